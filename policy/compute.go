package policy

import "math"

// ComputeOutputLimit is the largest result, in bytes, any compute permission
// of c could allow (0 when none bounds it), so a sandbox can stop a program
// writing past it instead of finding out afterwards. Only outputBytes
// constraints directly on a permission count; ones inside or/xone do not
// bound the result on their own.
func ComputeOutputLimit(c *Compiled) int64 {
	var limit int64
	for _, r := range c.permissions {
		if r.action != ActionCompute {
			continue
		}
		var rl int64 // this permission's bound, 0 for none
		for _, n := range r.cons {
			if n.left == LeftOutputBytes && n.logic == "" && !n.dom.neg && n.dom.hi != math.MaxInt64 {
				if rl == 0 || n.dom.hi < rl {
					rl = max(n.dom.hi, 1)
				}
			}
		}
		if rl == 0 {
			return 0 // one unbounded permission: nothing to cap
		}
		limit = max(limit, rl)
	}
	return limit
}
