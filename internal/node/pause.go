package node

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// pauseProgram is the pod sandbox's program: a static ELF executable of a
// few bytes that blocks forever in a syscall loop (pause(2) on amd64,
// ppoll(2) with no descriptors on arm64, which has no pause). Generated here
// rather than downloaded or compiled at run time: the sandbox only has to
// hold the pod's namespaces; containerd kills it with SIGKILL. Unlike the
// upstream pause it does not reap zombies of a shared PID namespace
// (shareProcessNamespace pods keep theirs until the pod ends).
func pauseProgram(arch string) ([]byte, error) {
	var code []byte
	var machine uint16
	switch arch {
	case "amd64":
		machine = 62 // EM_X86_64
		code = []byte{
			0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
			0x0f, 0x05, // syscall
			0xeb, 0xf7, // jmp back to mov
		}
	case "arm64":
		machine = 183 // EM_AARCH64
		for _, insn := range []uint32{
			0xd2800000, // mov x0, #0 (fds = NULL)
			0xd2800001, // mov x1, #0 (nfds = 0)
			0xd2800002, // mov x2, #0 (timeout = NULL: forever)
			0xd2800003, // mov x3, #0 (sigmask = NULL)
			0xd2800928, // mov x8, #73 (ppoll)
			0xd4000001, // svc #0
			0x17fffffa, // b back to the first mov
		} {
			code = binary.LittleEndian.AppendUint32(code, insn)
		}
	default:
		return nil, fmt.Errorf("no pause program for architecture %s", arch)
	}
	const base = 0x400000
	const hdrSize = 64 + 56 // ELF header + one program header
	var b bytes.Buffer
	le := binary.LittleEndian
	// ELF header
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* little endian */, 1 /* version */, 0 /* SysV ABI */})
	b.Write(make([]byte, 8))
	binary.Write(&b, le, uint16(2)) // ET_EXEC
	binary.Write(&b, le, machine)
	binary.Write(&b, le, uint32(1))            // version
	binary.Write(&b, le, uint64(base+hdrSize)) // entry
	binary.Write(&b, le, uint64(64))           // program headers' offset
	binary.Write(&b, le, uint64(0))            // section headers' offset: none
	binary.Write(&b, le, uint32(0))            // flags
	binary.Write(&b, le, uint16(64))           // header size
	binary.Write(&b, le, uint16(56))           // program header size
	binary.Write(&b, le, uint16(1))            // program headers
	binary.Write(&b, le, uint16(64))           // section header size
	binary.Write(&b, le, uint16(0))            // section headers
	binary.Write(&b, le, uint16(0))            // section names' index
	// PT_LOAD of the whole file, readable and executable
	binary.Write(&b, le, uint32(1))                 // PT_LOAD
	binary.Write(&b, le, uint32(5))                 // PF_R|PF_X
	binary.Write(&b, le, uint64(0))                 // offset
	binary.Write(&b, le, uint64(base))              // vaddr
	binary.Write(&b, le, uint64(base))              // paddr
	binary.Write(&b, le, uint64(hdrSize+len(code))) // file size
	binary.Write(&b, le, uint64(hdrSize+len(code))) // memory size
	binary.Write(&b, le, uint64(0x1000))            // alignment
	b.Write(code)
	return b.Bytes(), nil
}

// PauseImage builds the sandbox image (SandboxImage): one layer holding
// /pause, for this machine's architecture.
func PauseImage() (v1.Image, error) {
	prog, err := pauseProgram(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	return ImageFromFiles(map[string]File{"pause": {Data: prog, Mode: 0o755}}, []string{"/pause"}, nil)
}

// File is one regular file of an image layer.
type File struct {
	Data []byte
	Mode int64
}

// ImageFromFiles builds a single-layer linux image for this machine's
// architecture from files (paths relative to /), with entrypoint and
// environment. Timestamps are fixed so the same files give the same digest.
func ImageFromFiles(files map[string]File, entrypoint, env []string) (v1.Image, error) {
	var layerTar bytes.Buffer
	if err := writeTar(&layerTar, files); err != nil {
		return nil, err
	}
	data := layerTar.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Env = env
	return mutate.ConfigFile(img, cf)
}

// WriteImageArchive writes img as a docker-save archive tagged ref.
func WriteImageArchive(path, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}
