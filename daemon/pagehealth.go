package daemon

import (
	"fmt"

	"github.com/samlkeyd/samlkeyd/web"
)

// componentHealth lists the health of the parts of snap for the operator
// page. Until the daemon keeps a component registry it reports one "core"
// component from the snapshot's build state: healthy unless a rebuild
// failed after snap was built (the previous snapshot then keeps serving).
// When the registry lands, this function is the one place to switch.
func (d *Daemon) componentHealth(snap *Snapshot) []web.Component {
	core := web.Component{Kind: "core", Name: "key snapshot", OK: true, Since: snap.Built}
	if f := d.pages.failure.Load(); f != nil && f.at.After(snap.Built) {
		core.OK, core.Since = false, f.at
		core.Error = fmt.Sprintf("rebuild (%s) failed: %s; serving the snapshot built %s from store version %d",
			f.trigger, f.err, snap.Built.UTC().Format("2006-01-02 15:04:05Z"), snap.StoreVersion)
	}
	return []web.Component{core}
}
