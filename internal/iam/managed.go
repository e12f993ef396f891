package iam

import (
	"crypto/sha256"
	"embed"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/policy"
)

// The AWS managed policies EKS users attach, under arn:aws:iam::aws:policy/.
// Their documents in managed/ are written as AWS publishes them, to the best
// of our knowledge when this was written (not fetched from AWS: kplane runs
// offline); ReadOnlyAccess is shortened to the Describe/Get/List actions of
// the common services rather than AWS's full list of every service. Their
// policy ids are derived from the name here, not AWS's.
//
//go:embed managed/*.json
var managedFiles embed.FS

type managedPolicy struct {
	name, arn, id, description, document string
	parsed                               *policy.Policy
}

// awsManagedDate is the CreateDate/UpdateDate kplane gives AWS managed policies.
var awsManagedDate = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

var managedDescriptions = map[string]string{
	"AdministratorAccess":                "Provides full access to AWS services and resources.",
	"PowerUserAccess":                    "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
	"ReadOnlyAccess":                     "Provides read-only access to AWS services and resources.",
	"AmazonEKSClusterPolicy":             "This policy provides Kubernetes the permissions it requires to manage resources on your behalf. Kubernetes requires Ec2:CreateTags permissions to place identifying information on EC2 resources including but not limited to Instances, Security Groups, and Elastic Network Interfaces.",
	"AmazonEKSServicePolicy":             "This policy allows Amazon Elastic Container Service for Kubernetes to create and manage the necessary resources to operate EKS Clusters.",
	"AmazonEKSVPCResourceController":     "Policy used by VPC Resource Controller to manage ENI and IPs for worker nodes.",
	"AmazonEKSWorkerNodePolicy":          "This policy allows Amazon EKS worker nodes to connect to Amazon EKS Clusters.",
	"AmazonEKS_CNI_Policy":               "This policy provides the Amazon VPC CNI Plugin (amazon-vpc-cni-k8s) the permissions it requires to modify the IP address configuration on your EKS worker nodes. This permission set allows the CNI to list, describe, and modify Elastic Network Interfaces on your behalf. More information on the AWS VPC CNI Plugin is available here: https://github.com/aws/amazon-vpc-cni-k8s",
	"AmazonEC2ContainerRegistryReadOnly": "Provides read-only access to Amazon EC2 Container Registry repositories.",
	"AmazonEC2ContainerRegistryPullOnly": "Provides permissions to pull images from Amazon ECR repositories.",
	"AmazonSSMManagedInstanceCore":       "The policy for Amazon EC2 Role to enable AWS Systems Manager service core functionality.",
	"AmazonEKSComputePolicy":             "Provides permissions for Amazon EKS Auto Mode to manage EC2 compute for your cluster.",
	"AmazonEKSBlockStoragePolicy":        "Provides permissions for Amazon EKS Auto Mode to manage EBS block storage for your cluster.",
	"AmazonEKSLoadBalancingPolicy":       "Provides permissions for Amazon EKS Auto Mode to manage Elastic Load Balancing for your cluster.",
	"AmazonEKSNetworkingPolicy":          "Provides permissions for Amazon EKS Auto Mode to manage network interfaces for your cluster.",
}

const awsPolicyPrefix = "arn:aws:iam::aws:policy/"

// awsManaged are the AWS managed policies by ARN.
var awsManaged = loadManaged()

func loadManaged() map[string]*managedPolicy {
	entries, err := managedFiles.ReadDir("managed")
	if err != nil {
		panic(err)
	}
	out := map[string]*managedPolicy{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		b, err := managedFiles.ReadFile("managed/" + e.Name())
		if err != nil {
			panic(err)
		}
		p, err := policy.Parse(string(b))
		if err != nil {
			panic("iam: managed policy " + name + ": " + err.Error())
		}
		sum := sha256.Sum256([]byte(name))
		id := "ANPA"
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
		for _, c := range sum[:17] {
			id += string(alphabet[c%32])
		}
		out[awsPolicyPrefix+name] = &managedPolicy{name: name, arn: awsPolicyPrefix + name, id: id,
			description: managedDescriptions[name], document: string(b), parsed: p}
	}
	return out
}
