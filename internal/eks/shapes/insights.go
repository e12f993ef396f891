package shapes

// Insight categories and statuses (EKS 2017-11-01).
const (
	CategoryUpgradeReadiness = "UPGRADE_READINESS"
	CategoryMisconfiguration = "MISCONFIGURATION"

	InsightPassing = "PASSING"
	InsightWarning = "WARNING"
	InsightError   = "ERROR"
	InsightUnknown = "UNKNOWN"
)

// Insight is the Insight shape (DescribeInsight): its summary (what
// ListInsights lists) and the details.
type Insight struct {
	InsightSummary
	Recommendation          string                  `json:"recommendation,omitempty"`
	AdditionalInfo          map[string]string       `json:"additionalInfo,omitempty"`
	Resources               []InsightResourceDetail `json:"resources"`
	CategorySpecificSummary *InsightCategorySummary `json:"categorySpecificSummary,omitempty"`
}

// InsightSummary is one entry of ListInsights.
type InsightSummary struct {
	ID                 string        `json:"id"`
	Name               string        `json:"name"`
	Category           string        `json:"category"`
	KubernetesVersion  string        `json:"kubernetesVersion,omitempty"`
	LastRefreshTime    Time          `json:"lastRefreshTime"`
	LastTransitionTime Time          `json:"lastTransitionTime"`
	Description        string        `json:"description"`
	InsightStatus      InsightStatus `json:"insightStatus"`
}

type InsightStatus struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

type InsightResourceDetail struct {
	InsightStatus         InsightStatus `json:"insightStatus"`
	KubernetesResourceURI string        `json:"kubernetesResourceUri,omitempty"`
	Arn                   string        `json:"arn,omitempty"`
}

type InsightCategorySummary struct {
	DeprecationDetails []DeprecationDetail `json:"deprecationDetails"`
}

type DeprecationDetail struct {
	Usage                          string       `json:"usage"`
	ReplacedWith                   string       `json:"replacedWith,omitempty"`
	StopServingVersion             string       `json:"stopServingVersion"`
	StartServingReplacementVersion string       `json:"startServingReplacementVersion,omitempty"`
	ClientStats                    []ClientStat `json:"clientStats"`
}

type ClientStat struct {
	UserAgent                  string `json:"userAgent"`
	NumberOfRequestsLast30Days int    `json:"numberOfRequestsLast30Days"`
	LastRequestTime            Time   `json:"lastRequestTime"`
}

// ListInsightsRequest is the ListInsights body.
type ListInsightsRequest struct {
	Filter *struct {
		Categories         []string `json:"categories,omitempty"`
		KubernetesVersions []string `json:"kubernetesVersions,omitempty"`
		Statuses           []string `json:"statuses,omitempty"`
	} `json:"filter,omitempty"`
	MaxResults *int   `json:"maxResults,omitempty"`
	NextToken  string `json:"nextToken,omitempty"`
}
