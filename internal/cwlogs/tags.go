package cwlogs

import (
	"errors"
	"strings"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/store"
)

// groupByArn finds the log group an ARN names (with or without ":*").
func (s *Service) groupByArn(c *awsjson.Call, arn *string) (string, *awsjson.Error) {
	var v awsjson.Validation
	v.Required("resourceArn", arn != nil)
	if arn != nil {
		v.Length("resourceArn", *arn, 1, 1011)
	}
	if e := v.Err(); e != nil {
		return "", e
	}
	prefix := s.groupArn("")
	name, ok := strings.CutPrefix(strings.TrimSuffix(*arn, ":*"), prefix)
	if !ok || name == "" {
		if strings.HasPrefix(*arn, "arn:aws:logs:") {
			return "", awsjson.Errorf("ResourceNotFoundException", "The specified resource does not exist.")
		}
		return "", invalid("Invalid resource ARN %s", *arn)
	}
	return name, nil
}

func (s *Service) changeTags(c *awsjson.Call, name string, change func(map[string]string) *awsjson.Error) *awsjson.Error {
	var refused *awsjson.Error
	_, err := s.st.UpdateLogGroup(c.R.Context(), name, func(g *store.LogGroup) error {
		tags := map[string]string{}
		for k, v := range g.Tags {
			tags[k] = v
		}
		if refused = change(tags); refused != nil {
			return errors.New("refused")
		}
		if len(tags) > 50 {
			refused = awsjson.Errorf("TooManyTagsException", "A resource can have no more than 50 tags.")
			return errors.New("refused")
		}
		g.Tags = tags
		if len(tags) == 0 {
			g.Tags = nil
		}
		return nil
	})
	switch {
	case refused != nil:
		return refused
	case errors.Is(err, store.ErrNotFound):
		return awsjson.Errorf("ResourceNotFoundException", "The specified resource does not exist.")
	case err != nil:
		return unavailable(err)
	}
	return nil
}

func (s *Service) tagResource(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		ResourceArn *string           `json:"resourceArn"`
		Tags        map[string]string `json:"tags"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	name, e := s.groupByArn(c, in.ResourceArn)
	if e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("tags", in.Tags != nil)
	if e := checkTags(&v, in.Tags); e != nil {
		return nil, e
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	return nil, s.changeTags(c, name, func(tags map[string]string) *awsjson.Error {
		for k, v := range in.Tags {
			tags[k] = v
		}
		return nil
	})
}

func (s *Service) untagResource(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		ResourceArn *string  `json:"resourceArn"`
		TagKeys     []string `json:"tagKeys"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	name, e := s.groupByArn(c, in.ResourceArn)
	if e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("tagKeys", in.TagKeys != nil)
	if e := v.Err(); e != nil {
		return nil, e
	}
	return nil, s.changeTags(c, name, func(tags map[string]string) *awsjson.Error {
		for _, k := range in.TagKeys {
			delete(tags, k)
		}
		return nil
	})
}

func (s *Service) listTagsForResource(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		ResourceArn *string `json:"resourceArn"`
	}
	if e := c.Decode(&in); e != nil {
		return nil, e
	}
	name, e := s.groupByArn(c, in.ResourceArn)
	if e != nil {
		return nil, e
	}
	g, err := s.st.GetLogGroup(c.R.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, awsjson.Errorf("ResourceNotFoundException", "The specified resource does not exist.")
	} else if err != nil {
		return nil, unavailable(err)
	}
	tags := g.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return struct {
		Tags map[string]string `json:"tags"`
	}{tags}, nil
}
