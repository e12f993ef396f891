package policy

import (
	"strings"
	"sync/atomic"
)

// maxIndexedActions bounds a policy's action index: kplane's services name a
// few hundred actions, but simulation takes any action name a caller sends.
const maxIndexedActions = 1024

// actionIndex remembers, per action as the request names it, which of a
// policy's statements admit it, so a call looks only at those: a policy of
// 20 statements on other services costs one map read. The map is replaced,
// never changed, so readers take no lock.
type actionIndex struct {
	m atomic.Pointer[map[string][]int32]
}

// statementsFor are the indexes of the statements whose Action or NotAction
// admit action.
func (p *Policy) statementsFor(action string) []int32 {
	cur := p.byAction.m.Load()
	if cur != nil {
		if ids, ok := (*cur)[action]; ok {
			return ids
		}
	}
	lowered := strings.ToLower(action)
	var ids []int32
	for i := range p.Statements {
		if p.Statements[i].coversAction(lowered) {
			ids = append(ids, int32(i))
		}
	}
	for cur == nil || len(*cur) < maxIndexedActions {
		next := make(map[string][]int32, 1+lenOf(cur))
		if cur != nil {
			for k, v := range *cur {
				next[k] = v
			}
		}
		next[strings.Clone(action)] = ids
		if p.byAction.m.CompareAndSwap(cur, &next) {
			break
		}
		cur = p.byAction.m.Load()
	}
	return ids
}

func lenOf(m *map[string][]int32) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
