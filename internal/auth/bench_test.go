package auth

import (
	"testing"
	"time"
)

// BenchmarkVerify measures the hot path: a typical Go SDK CreateCluster-sized request,
// header-signed, with the signing key already cached (as it is for all but the first
// request of a key per day). "parallel" shows what both cores of the target machine do.
func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"name":"demo","version":"1.33","roleArn":"arn:aws:iam::000000000000:role/eks","resourcesVpcConfig":{"subnetIds":["subnet-1","subnet-2"]},"clientRequestToken":"6f0f4f0e-0000-4000-8000-000000000000"}`)
	header, hbody := sdkSign(b, "POST", "https://"+testEKSHost+"/clusters", body, signOpts{headers: map[string]string{
		"Content-Type":          "application/json",
		"Amz-Sdk-Invocation-Id": "4f4e6b8e-0000-4000-8000-000000000000",
		"Amz-Sdk-Request":       "attempt=1; max=3",
	}})
	presigned, pbody := sdkPresign(b, "GET", "https://"+testSTSHost+"/?Action=GetCallerIdentity&Version=2011-06-15", "60",
		signOpts{service: "sts", creds: tempCreds, headers: map[string]string{"x-k8s-aws-id": testClusterID}})
	v := verifierAt(signTime.Add(time.Minute))

	b.Run("header", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, rej := v.Verify(header, hbody, "eks"); rej != nil {
				b.Fatal(rej)
			}
		}
	})
	b.Run("presigned-sts", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, rej := v.Verify(presigned, pbody, "sts"); rej != nil {
				b.Fatal(rej)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, rej := v.Verify(header, hbody, "eks"); rej != nil {
					b.Error(rej)
					return
				}
			}
		})
	})
	b.Run("rejected", func(b *testing.B) { // what a flood of bad signatures costs
		bad, bbody := sdkSign(b, "GET", "https://"+testEKSHost+"/clusters", nil, signOpts{creds: rootCreds, at: signTime.Add(-time.Hour)})
		b.ReportAllocs()
		for b.Loop() {
			if _, rej := v.Verify(bad, bbody, "eks"); rej == nil {
				b.Fatal("accepted")
			}
		}
	})
}
