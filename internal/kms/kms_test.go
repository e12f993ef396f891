package kms

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/store"
)

type testEnv struct {
	t       testing.TB
	dataDir string
	st      *store.Store
	svc     *Service
	ops     *awsjson.Service
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dataDir := t.TempDir()
	st, err := store.Open(context.Background(), store.Config{DataDir: dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := New(st, dataDir, "000000000000", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, dataDir: dataDir, st: st, svc: svc, ops: svc.Handler(nil, nil)}
}

// call runs one operation without the wire's signature check (the server's
// tests cover that) and returns the answer as JSON, or its error.
func (e *testEnv) call(op, body string) (map[string]any, *awsjson.Error) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	out, err := e.ops.Ops[op](&awsjson.Call{R: r, Body: []byte(body), Op: op})
	if err != nil {
		return nil, err
	}
	b, jerr := json.Marshal(out)
	if jerr != nil {
		e.t.Fatalf("%s: answer does not encode: %v", op, jerr)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m, nil
}

func (e *testEnv) must(op, body string) map[string]any {
	e.t.Helper()
	m, err := e.call(op, body)
	if err != nil {
		e.t.Fatalf("%s %s: %v", op, body, err)
	}
	return m
}

func (e *testEnv) fails(op, body, typ string) *awsjson.Error {
	e.t.Helper()
	_, err := e.call(op, body)
	if err == nil || err.Type != typ {
		e.t.Fatalf("%s %s: got %v, want %s", op, body, err, typ)
	}
	if err.Message == "" {
		e.t.Fatalf("%s: %s without a message", op, typ)
	}
	return err
}

func (e *testEnv) createKey() string {
	e.t.Helper()
	return e.must("CreateKey", `{"Description":"test"}`)["KeyMetadata"].(map[string]any)["KeyId"].(string)
}

// The master key is a 0600 file of 32 bytes, and etcd holds key material
// only sealed under it: no stored value contains the material.
func TestMaterialNeverInEtcdInTheClear(t *testing.T) {
	e := newTestEnv(t)
	id := e.createKey()
	info, err := os.Stat(filepath.Join(e.dataDir, MasterKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != keyBytes {
		t.Fatalf("master key file: %v %v", info, err)
	}
	k, err := e.st.GetKMSKey(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	material, err := unwrap(e.svc.master, id, k.Wrapped)
	if err != nil || len(material) != keyBytes {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := unwrap(e.svc.master, newKeyID(), k.Wrapped); err == nil {
		t.Fatal("wrapped material opened for another key id")
	}
	resp, err := e.st.Client.Get(context.Background(), "/kplane/kms/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("etcd: %v", err)
	}
	for _, kv := range resp.Kvs {
		if bytes.Contains(kv.Value, material) || bytes.Contains(kv.Value, []byte(b64(material))) {
			t.Fatalf("%s holds the key material in the clear", kv.Key)
		}
	}
	// A second start reads the same master key: the key still decrypts.
	blob := e.must("Encrypt", `{"KeyId":"`+id+`","Plaintext":"aGVsbG8="}`)["CiphertextBlob"].(string)
	again, err := New(e.st, e.dataDir, "000000000000", "us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	e.svc, e.ops = again, again.Handler(nil, nil)
	if got := e.must("Decrypt", `{"CiphertextBlob":"`+blob+`"}`)["Plaintext"]; got != "aGVsbG8=" {
		t.Fatalf("decrypt after restart: %v", got)
	}
}

// A blob names its key and is authenticated with the key id and the
// encryption context: any change is InvalidCiphertextException.
func TestCiphertextAuthenticated(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.createKey(), e.createKey()
	out := e.must("Encrypt", `{"KeyId":"`+a+`","Plaintext":"c2VjcmV0","EncryptionContext":{"cluster":"demo"}}`)
	if out["KeyId"] != e.svc.keyArn(a) || out["EncryptionAlgorithm"] != "SYMMETRIC_DEFAULT" {
		t.Fatalf("encrypt: %v", out)
	}
	blob := unb64(t, out["CiphertextBlob"].(string))
	if id, _ := blobKeyID(blob); id != a {
		t.Fatalf("blob names %q, want %q", id, a)
	}
	ok := e.must("Decrypt", `{"CiphertextBlob":"`+b64(blob)+`","EncryptionContext":{"cluster":"demo"}}`)
	if ok["Plaintext"] != "c2VjcmV0" || ok["KeyId"] != e.svc.keyArn(a) {
		t.Fatalf("decrypt: %v", ok)
	}
	e.fails("Decrypt", `{"CiphertextBlob":"`+b64(blob)+`"}`, "InvalidCiphertextException")
	e.fails("Decrypt", `{"CiphertextBlob":"`+b64(blob)+`","EncryptionContext":{"cluster":"other"}}`, "InvalidCiphertextException")
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x01
		if _, err := e.call("Decrypt", `{"CiphertextBlob":"`+b64(bad)+`","EncryptionContext":{"cluster":"demo"}}`); err == nil {
			t.Fatalf("a blob with byte %d changed decrypted", i)
		} else if err.Type != "InvalidCiphertextException" && err.Type != "NotFoundException" {
			t.Fatalf("byte %d changed: %v", i, err)
		}
	}
	// The same bytes relabelled with key b do not open under b.
	relabelled := append(blobHeader(b), blob[len(blobHeader(a)):]...)
	e.fails("Decrypt", `{"CiphertextBlob":"`+b64(relabelled)+`","EncryptionContext":{"cluster":"demo"}}`, "InvalidCiphertextException")
	e.fails("Decrypt", `{"CiphertextBlob":"`+b64(blob)+`","KeyId":"`+b+`","EncryptionContext":{"cluster":"demo"}}`, "IncorrectKeyException")
	e.fails("Decrypt", `{"CiphertextBlob":"bm90IGEgYmxvYg=="}`, "InvalidCiphertextException")
}

func TestKeyStatesAndErrors(t *testing.T) {
	e := newTestEnv(t)
	id := e.createKey()
	arn := e.svc.keyArn(id)
	enc := `{"KeyId":"` + id + `","Plaintext":"eA=="}`
	e.must("DisableKey", `{"KeyId":"`+arn+`"}`)
	if m := e.must("DescribeKey", `{"KeyId":"`+id+`"}`)["KeyMetadata"].(map[string]any); m["KeyState"] != "Disabled" || m["Enabled"] != false {
		t.Fatalf("disabled key: %v", m)
	}
	e.fails("Encrypt", enc, "DisabledException")
	e.fails("GenerateDataKey", `{"KeyId":"`+id+`","KeySpec":"AES_256"}`, "DisabledException")
	e.must("EnableKey", `{"KeyId":"`+id+`"}`)
	blob := e.must("Encrypt", enc)["CiphertextBlob"].(string)

	e.fails("ScheduleKeyDeletion", `{"KeyId":"`+id+`","PendingWindowInDays":6}`, "ValidationException")
	out := e.must("ScheduleKeyDeletion", `{"KeyId":"`+id+`","PendingWindowInDays":7}`)
	if out["KeyState"] != "PendingDeletion" || out["PendingWindowInDays"] != float64(7) || out["KeyId"] != arn {
		t.Fatalf("schedule: %v", out)
	}
	e.fails("Encrypt", enc, "KMSInvalidStateException")
	e.fails("Decrypt", `{"CiphertextBlob":"`+blob+`"}`, "KMSInvalidStateException")
	e.fails("EnableKey", `{"KeyId":"`+id+`"}`, "KMSInvalidStateException")
	e.fails("ScheduleKeyDeletion", `{"KeyId":"`+id+`"}`, "KMSInvalidStateException")
	e.must("CancelKeyDeletion", `{"KeyId":"`+id+`"}`)
	e.fails("CancelKeyDeletion", `{"KeyId":"`+id+`"}`, "KMSInvalidStateException")
	if m := e.must("DescribeKey", `{"KeyId":"`+id+`"}`)["KeyMetadata"].(map[string]any); m["KeyState"] != "Disabled" {
		t.Fatalf("after cancel: %v", m)
	}

	// A key past its deletion date is gone, with its aliases.
	e.must("CreateAlias", `{"AliasName":"alias/doomed","TargetKeyId":"`+id+`"}`)
	e.must("ScheduleKeyDeletion", `{"KeyId":"`+id+`","PendingWindowInDays":7}`)
	e.svc.now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	e.fails("DescribeKey", `{"KeyId":"`+id+`"}`, "NotFoundException")
	e.fails("DescribeKey", `{"KeyId":"alias/doomed"}`, "NotFoundException")
	if aliases := e.must("ListAliases", `{}`)["Aliases"].([]any); len(aliases) != 0 {
		t.Fatalf("aliases of a deleted key: %v", aliases)
	}

	e.fails("DescribeKey", `{}`, "ValidationException")
	e.fails("DescribeKey", `{"KeyId":"`+newKeyID()+`"}`, "NotFoundException")
	e.fails("DescribeKey", `{"KeyId":"arn:aws:kms:us-east-1:000000000000:key/`+newKeyID()+`"}`, "NotFoundException")
	e.fails("DescribeKey", `{"KeyId":"arn:aws:s3:::bucket"}`, "InvalidArnException")
	e.fails("DescribeKey", `{"KeyId":5}`, "SerializationException")
	e.fails("DescribeKey", `{"KeyId":`, "SerializationException")
	e.fails("CreateKey", `{"KeySpec":"RSA_2048"}`, "UnsupportedOperationException")
	e.fails("CreateKey", `{"Tags":[{"TagKey":"aws:x","TagValue":"y"}]}`, "TagException")
	e.fails("Encrypt", `{"KeyId":"alias/none","Plaintext":"eA=="}`, "NotFoundException")
	e.fails("GenerateDataKey", `{"KeyId":"`+newKeyID()+`"}`, "ValidationException")
}

func TestAliasesTagsAndPaging(t *testing.T) {
	e := newTestEnv(t)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, e.createKey())
	}
	e.must("CreateAlias", `{"AliasName":"alias/app","TargetKeyId":"`+ids[0]+`"}`)
	e.fails("CreateAlias", `{"AliasName":"alias/app","TargetKeyId":"`+ids[1]+`"}`, "AlreadyExistsException")
	e.fails("CreateAlias", `{"AliasName":"app","TargetKeyId":"`+ids[1]+`"}`, "InvalidAliasNameException")
	e.fails("CreateAlias", `{"AliasName":"alias/aws/ebs","TargetKeyId":"`+ids[1]+`"}`, "InvalidAliasNameException")
	e.fails("CreateAlias", `{"AliasName":"alias/x","TargetKeyId":"alias/app"}`, "NotFoundException")
	for _, ref := range []string{ids[0], e.svc.keyArn(ids[0]), "alias/app", e.svc.aliasArn("alias/app")} {
		if got := e.must("DescribeKey", `{"KeyId":"`+ref+`"}`)["KeyMetadata"].(map[string]any)["KeyId"]; got != ids[0] {
			t.Fatalf("DescribeKey %s: %v", ref, got)
		}
	}
	e.fails("EnableKey", `{"KeyId":"alias/app"}`, "NotFoundException")
	if got := e.must("ListAliases", `{"KeyId":"`+ids[1]+`"}`)["Aliases"].([]any); len(got) != 0 {
		t.Fatalf("aliases of key 1: %v", got)
	}
	e.must("DeleteAlias", `{"AliasName":"alias/app"}`)
	e.fails("DeleteAlias", `{"AliasName":"alias/app"}`, "NotFoundException")

	var seen []string
	marker := ""
	for pages := 0; ; pages++ {
		body := `{"Limit":2}`
		if marker != "" {
			body = `{"Limit":2,"Marker":"` + marker + `"}`
		}
		out := e.must("ListKeys", body)
		for _, k := range out["Keys"].([]any) {
			seen = append(seen, k.(map[string]any)["KeyId"].(string))
		}
		if out["Truncated"] != true {
			break
		}
		marker = out["NextMarker"].(string)
	}
	if len(seen) != 3 {
		t.Fatalf("ListKeys pages: %v", seen)
	}
	e.fails("ListKeys", `{"Limit":0}`, "ValidationException")

	e.must("TagResource", `{"KeyId":"`+ids[2]+`","Tags":[{"TagKey":"team","TagValue":"a"},{"TagKey":"env","TagValue":"dev"}]}`)
	tags := e.must("ListResourceTags", `{"KeyId":"`+ids[2]+`"}`)["Tags"].([]any)
	if len(tags) != 2 || tags[0].(map[string]any)["TagKey"] != "env" {
		t.Fatalf("tags: %v", tags)
	}
	e.must("UntagResource", `{"KeyId":"`+ids[2]+`","TagKeys":["env"]}`)
	if tags := e.must("ListResourceTags", `{"KeyId":"`+ids[2]+`"}`)["Tags"].([]any); len(tags) != 1 {
		t.Fatalf("tags after untag: %v", tags)
	}
	many := `{"KeyId":"` + ids[2] + `","Tags":[`
	for i := 0; i < 50; i++ {
		many += `{"TagKey":"k` + string(rune('A'+i%26)) + string(rune('a'+i/26)) + `","TagValue":""},`
	}
	e.fails("TagResource", strings.TrimSuffix(many, ",")+`]}`, "LimitExceededException")
}

// GenerateDataKey's ciphertext decrypts to its plaintext.
func TestGenerateDataKey(t *testing.T) {
	e := newTestEnv(t)
	id := e.createKey()
	out := e.must("GenerateDataKey", `{"KeyId":"`+id+`","KeySpec":"AES_256","EncryptionContext":{"a":"b"}}`)
	plain := unb64(t, out["Plaintext"].(string))
	if len(plain) != 32 {
		t.Fatalf("data key of %d bytes", len(plain))
	}
	got := e.must("Decrypt", `{"CiphertextBlob":"`+out["CiphertextBlob"].(string)+`","EncryptionContext":{"a":"b"}}`)
	if got["Plaintext"] != out["Plaintext"] {
		t.Fatal("data key does not decrypt to its plaintext")
	}
	if n := len(unb64(t, e.must("GenerateDataKey", `{"KeyId":"`+id+`","NumberOfBytes":100}`)["Plaintext"].(string))); n != 100 {
		t.Fatalf("NumberOfBytes 100 gave %d", n)
	}
	e.fails("GenerateDataKey", `{"KeyId":"`+id+`","NumberOfBytes":16,"KeySpec":"AES_128"}`, "ValidationException")
	e.fails("GenerateDataKey", `{"KeyId":"`+id+`","NumberOfBytes":1025}`, "ValidationException")
}

// FuzzDecode feeds arbitrary bodies to every operation: each answers or
// returns a modeled error of a 4xx status, never a panic or a 500.
func FuzzDecode(f *testing.F) {
	e := newTestEnv(f)
	id := e.createKey()
	for _, seed := range []string{`{}`, `{"KeyId":"` + id + `"}`, `{"KeyId":"alias/x","Plaintext":"eA=="}`,
		`{"CiphertextBlob":"AQ=="}`, `{"Limit":-1,"Marker":"\u0000"}`, `{"Tags":[{}]}`, `[]`, `null`, `{"KeyId":null}`,
		`{"AliasName":"alias/a","TargetKeyId":"` + id + `"}`, `{"NumberOfBytes":1e9}`, `{"PendingWindowInDays":"7"}`} {
		f.Add("Encrypt", seed)
		f.Add("DescribeKey", seed)
	}
	f.Fuzz(func(t *testing.T, op, body string) {
		fn := e.ops.Ops[op]
		if fn == nil || op == "CreateKey" || op == "ScheduleKeyDeletion" || op == "DisableKey" {
			return // keep the one key usable; CreateKey's decoding is Encrypt's
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		_, err := fn(&awsjson.Call{R: r, Body: []byte(body), Op: op})
		if err != nil && (err.Status >= 500 || err.Type == "" || err.Message == "") {
			t.Fatalf("%s %q: %+v", op, body, err)
		}
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
