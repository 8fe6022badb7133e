package daemon

import (
	"github.com/samlkeyd/samlkeyd/web"
)

// componentHealth lists every component's state for the operator page, from
// the registry /readyz and samlkeyd_component_up read: the serving
// snapshot's components, the store and the federation sources.
func (d *Daemon) componentHealth(_ *Snapshot) []web.Component {
	list := d.components.list()
	out := make([]web.Component, 0, len(list))
	for _, c := range list {
		out = append(out, web.Component{Kind: c.Kind, Name: c.Name, OK: c.OK, Error: c.Error, Since: c.Since})
	}
	return out
}
