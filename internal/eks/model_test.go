package eks

// Checks of the Go wire shapes and the validated enums against the official
// EKS models: botocore's service-2.json.gz (found through python3 or the
// usual site-packages paths; the test fails if it is missing) and the
// schemas and enums of the aws-sdk-go-v2 EKS client go.mod pins, which is
// often newer than the botocore installed.

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/eks/schemas"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	smithy "github.com/aws/smithy-go"
	smithytraits "github.com/aws/smithy-go/traits"

	"github.com/kplane/kplane/internal/eks/shapes"
)

// botocoreModelEnv names a model file to use instead of searching for one.
const botocoreModelEnv = "KPLANE_BOTOCORE_EKS_MODEL"

const botocoreModelRel = "data/eks/2017-11-01/service-2.json.gz"

// findBotocoreModel returns the path of botocore's EKS model.
func findBotocoreModel(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(botocoreModelEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", botocoreModelEnv, p, err)
		}
		return p
	}
	var tried []string
	for _, py := range []string{"python3", "python"} {
		out, err := exec.Command(py, "-c", "import botocore,os;print(os.path.dirname(botocore.__file__))").Output()
		if err != nil {
			tried = append(tried, py+": "+err.Error())
			continue
		}
		p := filepath.Join(strings.TrimSpace(string(out)), botocoreModelRel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		tried = append(tried, p)
	}
	home, _ := os.UserHomeDir()
	patterns := []string{
		"/usr/lib/python3*/site-packages/botocore",
		"/usr/lib/python3/dist-packages/botocore",
		"/usr/lib/python3*/dist-packages/botocore",
		"/usr/local/lib/python3*/site-packages/botocore",
		"/usr/local/lib/python3*/dist-packages/botocore",
		filepath.Join(home, ".local/lib/python3*/site-packages/botocore"),
		filepath.Join(home, ".pyenv/versions/*/lib/python3*/site-packages/botocore"),
		"/opt/homebrew/lib/python3*/site-packages/botocore",
		"/usr/local/aws-cli/v2/current/dist/awscli/botocore",
	}
	var found []string
	for _, pat := range patterns {
		dirs, _ := filepath.Glob(pat)
		for _, d := range dirs {
			if p := filepath.Join(d, botocoreModelRel); fileExists(p) {
				found = append(found, p)
			}
		}
		tried = append(tried, pat)
	}
	if len(found) == 0 {
		t.Fatalf("botocore's EKS model (%s) not found; install botocore (pip install botocore) or set %s. Tried: %s",
			botocoreModelRel, botocoreModelEnv, strings.Join(tried, "; "))
	}
	sort.Strings(found)
	return found[len(found)-1]
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// botoModel is the part of a botocore service model the tests read.
type botoModel struct {
	path     string
	Metadata struct {
		APIVersion string `json:"apiVersion"`
	} `json:"metadata"`
	Shapes map[string]botoShape `json:"shapes"`
}

type botoShape struct {
	Type    string                `json:"type"`
	Members map[string]botoMember `json:"members"`
	Member  *botoMember           `json:"member"`
	Value   *botoMember           `json:"value"`
	Enum    []string              `json:"enum"`
}

type botoMember struct {
	Shape    string `json:"shape"`
	Location string `json:"location"` // uri, querystring, header...: not a body member
}

func loadBotocore(t testing.TB) *botoModel {
	t.Helper()
	path := findBotocoreModel(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m := &botoModel{path: path}
	if err := json.NewDecoder(z).Decode(m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if m.Metadata.APIVersion != "2017-11-01" || len(m.Shapes) == 0 {
		t.Fatalf("%s: not the EKS 2017-11-01 model (apiVersion %q, %d shapes)", path, m.Metadata.APIVersion, len(m.Shapes))
	}
	return m
}

// modelShape is a shape of either model, reduced to what the comparison uses.
type modelShape struct {
	name    string
	kind    string                 // structure, list, map, string, boolean, integer, timestamp, number, other
	members map[string]*modelShape // structure: body members
	elem    *modelShape            // list member, map value
}

// maxModelDepth bounds the walk; the EKS shapes nest far less deeply.
const maxModelDepth = 12

// botoShapeTree converts botocore shape name into a modelShape tree.
func (m *botoModel) tree(name string, depth int) (*modelShape, error) {
	s, ok := m.Shapes[name]
	if !ok {
		return nil, fmt.Errorf("botocore model has no shape %s", name)
	}
	out := &modelShape{name: name}
	if depth > maxModelDepth {
		out.kind = "other"
		return out, nil
	}
	var err error
	switch s.Type {
	case "structure":
		out.kind = "structure"
		out.members = map[string]*modelShape{}
		for mn, mem := range s.Members {
			if mem.Location != "" {
				continue
			}
			if out.members[mn], err = m.tree(mem.Shape, depth+1); err != nil {
				return nil, err
			}
		}
	case "list":
		out.kind = "list"
		out.elem, err = m.tree(s.Member.Shape, depth+1)
	case "map":
		out.kind = "map"
		out.elem, err = m.tree(s.Value.Shape, depth+1)
	case "string", "boolean", "timestamp":
		out.kind = s.Type
	case "integer", "long":
		out.kind = "integer"
	case "float", "double":
		out.kind = "number"
	default:
		out.kind = "other"
	}
	return out, err
}

// sdkTree converts a Go SDK schema into a modelShape tree.
func sdkTree(s *smithy.Schema, depth int) *modelShape {
	name := s.ID().Name
	if s.TargetID().Name != "" {
		name = s.TargetID().Name
	}
	out := &modelShape{name: name, kind: "other"}
	if depth > maxModelDepth {
		return out
	}
	switch s.Type() {
	case smithy.ShapeTypeStructure, smithy.ShapeTypeUnion:
		out.kind = "structure"
		out.members = map[string]*modelShape{}
		for mn, mem := range s.Members() {
			if isHTTPBound(mem) {
				continue
			}
			out.members[mn] = sdkTree(mem, depth+1)
		}
	case smithy.ShapeTypeList, smithy.ShapeTypeSet:
		out.kind = "list"
		out.elem = sdkTree(s.ListMember(), depth+1)
	case smithy.ShapeTypeMap:
		out.kind = "map"
		out.elem = sdkTree(s.MapValue(), depth+1)
	case smithy.ShapeTypeString, smithy.ShapeTypeEnum:
		out.kind = "string"
	case smithy.ShapeTypeBoolean:
		out.kind = "boolean"
	case smithy.ShapeTypeTimestamp:
		out.kind = "timestamp"
	case smithy.ShapeTypeByte, smithy.ShapeTypeShort, smithy.ShapeTypeInteger, smithy.ShapeTypeLong, smithy.ShapeTypeIntEnum:
		out.kind = "integer"
	case smithy.ShapeTypeFloat, smithy.ShapeTypeDouble:
		out.kind = "number"
	}
	return out
}

// isHTTPBound reports whether a member goes in the path, query or headers
// rather than the JSON body.
func isHTTPBound(m *smithy.Schema) bool {
	_, label := smithy.SchemaTrait[*smithytraits.HTTPLabel](m)
	_, query := smithy.SchemaTrait[*smithytraits.HTTPQuery](m)
	_, header := smithy.SchemaTrait[*smithytraits.HTTPHeader](m)
	_, prefix := smithy.SchemaTrait[*smithytraits.HTTPPrefixHeaders](m)
	_, params := smithy.SchemaTrait[*smithytraits.HTTPQueryParams](m)
	return label || query || header || prefix || params
}

// jsonFields maps the JSON member names of struct type t to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		out[tag] = f.Type
	}
	return out
}

// compareShape reports every member of m, recursively, that Go type t lacks
// or holds in a field of the wrong kind.
func compareShape(m *modelShape, t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	wrong := func(want string) []string {
		return []string{fmt.Sprintf("%s: model shape %s is a %s, Go type %s is not %s", path, m.name, m.kind, t, want)}
	}
	switch m.kind {
	case "structure":
		if t.Kind() != reflect.Struct {
			return wrong("a struct")
		}
		fields := jsonFields(t)
		var problems []string
		for _, name := range slices.Sorted(mapsKeys(m.members)) {
			ft, ok := fields[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: model member %q (shape %s) has no field with json tag %q in Go type %s", path, name, m.members[name].name, name, t))
				continue
			}
			problems = append(problems, compareShape(m.members[name], ft, path+"."+name)...)
		}
		return problems
	case "list":
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return wrong("a slice")
		}
		return compareShape(m.elem, t.Elem(), path+"[]")
	case "map":
		if t.Kind() != reflect.Map || t.Key().Kind() != reflect.String {
			return wrong("a map with string keys")
		}
		return compareShape(m.elem, t.Elem(), path+"{}")
	case "string":
		if t.Kind() != reflect.String {
			return wrong("a string")
		}
	case "boolean":
		if t.Kind() != reflect.Bool {
			return wrong("a bool")
		}
	case "integer":
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		default:
			return wrong("an integer")
		}
	case "timestamp", "number":
		if t.Kind() != reflect.Float64 && t.Kind() != reflect.Float32 {
			return wrong("a float (epoch seconds for timestamps)")
		}
	}
	return nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// modelPairs are the model shapes kplane's Go shapes must cover.
var modelPairs = []struct {
	shape  string
	goType reflect.Type
	sdk    *smithy.Schema
}{
	{"CreateClusterRequest", reflect.TypeFor[shapes.CreateClusterRequest](), schemas.CreateClusterRequest},
	{"Cluster", reflect.TypeFor[shapes.Cluster](), schemas.Cluster},
	{"UpdateClusterConfigRequest", reflect.TypeFor[shapes.UpdateClusterConfigRequest](), schemas.UpdateClusterConfigRequest},
	{"UpdateClusterVersionRequest", reflect.TypeFor[shapes.UpdateClusterVersionRequest](), schemas.UpdateClusterVersionRequest},
	{"Update", reflect.TypeFor[shapes.Update](), schemas.Update},
	{"TagResourceRequest", reflect.TypeFor[shapes.TagResourceRequest](), schemas.TagResourceRequest},
	{"Nodegroup", reflect.TypeFor[shapes.Nodegroup](), schemas.Nodegroup},
	{"CreateNodegroupRequest", reflect.TypeFor[shapes.CreateNodegroupRequest](), schemas.CreateNodegroupRequest},
	{"UpdateNodegroupConfigRequest", reflect.TypeFor[shapes.UpdateNodegroupConfigRequest](), schemas.UpdateNodegroupConfigRequest},
	// Not compared with the Go SDK yet: its ClusterVersionInformation adds
	// controlPlaneComponentConfig and controlPlaneScalingTiers, which
	// DescribeClusterVersions does not return today.
	{"ClusterVersionInformation", reflect.TypeFor[shapes.ClusterVersionInformation](), nil},
}

func TestModelBotocoreShapes(t *testing.T) {
	m := loadBotocore(t)
	t.Logf("botocore model: %s", m.path)
	for _, p := range modelPairs {
		t.Run(p.shape, func(t *testing.T) {
			tree, err := m.tree(p.shape, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, problem := range compareShape(tree, p.goType, p.shape) {
				t.Error(problem)
			}
		})
	}
}

func TestModelGoSDKShapes(t *testing.T) {
	for _, p := range modelPairs {
		if p.sdk == nil {
			continue
		}
		t.Run(p.shape, func(t *testing.T) {
			tree := sdkTree(p.sdk, 0)
			if tree.kind != "structure" || len(tree.members) == 0 {
				t.Fatalf("Go SDK schema %s has no members", p.shape)
			}
			for _, problem := range compareShape(tree, p.goType, p.shape) {
				t.Error(problem)
			}
		})
	}
}

// TestModelWalkerFindsGaps shows the comparison fails for Go types that lack
// members or hold them in fields of the wrong kind.
func TestModelWalkerFindsGaps(t *testing.T) {
	m := loadBotocore(t)
	tree, err := m.tree("CreateClusterRequest", 0)
	if err != nil {
		t.Fatal(err)
	}
	type partialVpc struct {
		SubnetIDs []string `json:"subnetIds"`
	}
	type partial struct {
		Name               string            `json:"name"`
		RoleArn            int               `json:"roleArn"`
		ResourcesVpcConfig *partialVpc       `json:"resourcesVpcConfig"`
		Tags               map[string]string `json:"tags"`
	}
	got := strings.Join(compareShape(tree, reflect.TypeFor[partial](), "CreateClusterRequest"), "\n")
	for _, want := range []string{
		`CreateClusterRequest: model member "version"`,
		`CreateClusterRequest.roleArn: model shape String is a string, Go type int is not a string`,
		`CreateClusterRequest.resourcesVpcConfig: model member "securityGroupIds"`,
		`CreateClusterRequest: model member "logging"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems do not mention %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `member "name"`) || strings.Contains(got, `member "tags"`) {
		t.Errorf("problems name members the type has:\n%s", got)
	}
}

func enumValues[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// sdkEnums are the Go SDK's values of the enums validation uses.
var sdkEnums = map[string][]string{
	"LogType":                     enumValues(ekstypes.LogType("").Values()),
	"AuthenticationMode":          enumValues(ekstypes.AuthenticationMode("").Values()),
	"IpFamily":                    enumValues(ekstypes.IpFamily("").Values()),
	"SupportType":                 enumValues(ekstypes.SupportType("").Values()),
	"ControlPlaneEgressModeType":  enumValues(ekstypes.ControlPlaneEgressModeType("").Values()),
	"ProvisionedControlPlaneTier": enumValues(ekstypes.ProvisionedControlPlaneTier("").Values()),
	"ScoringStrategyType":         enumValues(ekstypes.ScoringStrategyType("").Values()),
	"AMITypes":                    enumValues(ekstypes.AMITypes("").Values()),
	"CapacityTypes":               enumValues(ekstypes.CapacityTypes("").Values()),
	"TaintEffect":                 enumValues(ekstypes.TaintEffect("").Values()),
	"NodegroupUpdateStrategies":   enumValues(ekstypes.NodegroupUpdateStrategies("").Values()),
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func TestModelEnums(t *testing.T) {
	m := loadBotocore(t)
	// The enums the brief names must all be validated.
	for _, name := range []string{"LogType", "AuthenticationMode", "IpFamily", "SupportType", "ControlPlaneEgressModeType", "ProvisionedControlPlaneTier"} {
		if _, ok := validatedEnums[name]; !ok {
			t.Errorf("validatedEnums lacks %s", name)
		}
	}
	for _, name := range slices.Sorted(mapsKeys(validatedEnums)) {
		ours := sortedCopy(validatedEnums[name])
		sdk, ok := sdkEnums[name]
		if !ok {
			t.Errorf("%s: no Go SDK enum to compare with", name)
		} else if !slices.Equal(ours, sortedCopy(sdk)) {
			t.Errorf("%s: validation accepts %v, the Go SDK model has %v", name, ours, sortedCopy(sdk))
		}
		s, ok := m.Shapes[name]
		if !ok {
			t.Logf("%s: not in botocore's model (%s); compared with the Go SDK model only", name, m.path)
			continue
		}
		if !slices.Equal(ours, sortedCopy(s.Enum)) {
			t.Errorf("%s: validation accepts %v, botocore's model has %v", name, ours, sortedCopy(s.Enum))
		}
	}
	// The member each enum is validated on has that enum as its shape.
	for shape, member := range map[string][2]string{
		"LogType":                     {"LogTypes", ""},
		"AuthenticationMode":          {"CreateAccessConfigRequest", "authenticationMode"},
		"IpFamily":                    {"KubernetesNetworkConfigRequest", "ipFamily"},
		"SupportType":                 {"UpgradePolicyRequest", "supportType"},
		"ProvisionedControlPlaneTier": {"ControlPlaneScalingConfig", "tier"},
	} {
		s := m.Shapes[member[0]]
		got := ""
		if member[1] == "" && s.Member != nil {
			got = s.Member.Shape
		} else if mem, ok := s.Members[member[1]]; ok {
			got = mem.Shape
		}
		if got != shape {
			t.Errorf("botocore %s.%s has shape %q, want %s", member[0], member[1], got, shape)
		}
	}
}
