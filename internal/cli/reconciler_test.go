package cli

import "testing"

func TestRuntimeConfigByMinor(t *testing.T) {
	got, err := runtimeConfigByMinor([]string{"1.36=networking.k8s.io/v1beta1=true", "1.36=storage.k8s.io/v1beta1=true", "1.37=resource.k8s.io/v1beta1=true"})
	if err != nil {
		t.Fatal(err)
	}
	if got["1.36"] != "networking.k8s.io/v1beta1=true,storage.k8s.io/v1beta1=true" || got["1.37"] != "resource.k8s.io/v1beta1=true" || len(got) != 2 {
		t.Errorf("got %v", got)
	}
	for _, bad := range []string{"networking.k8s.io/v1beta1=true", "1.x=networking.k8s.io/v1beta1=true", "1.36=true", "1.36"} {
		if _, err := runtimeConfigByMinor([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
