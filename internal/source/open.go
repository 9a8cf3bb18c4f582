package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/gostate/gostate/internal/flow"
	"golang.org/x/sys/unix"
)

// Open returns the reader opts asks for: a saved dump when opts.File is set;
// otherwise, by opts.Kind, the netlink source, the /proc source, or (auto, the
// default) netlink falling back to /proc/net/nf_conntrack and then
// /proc/net/ip_conntrack. After a fallback every Table it reads carries the
// reason in Warnings ("netlink: operation not permitted; reading
// /proc/net/nf_conntrack"). With opts.NetNS the table of that network
// namespace is read. When nothing can be read the error wraps ErrUnavailable
// and its text is one line naming what was tried and why, ending with what
// fixes it when the cause says: the privilege missing (CAP_NET_ADMIN for
// netlink, root for /proc/net/nf_conntrack, CAP_SYS_ADMIN as well to enter
// another namespace) or the module to load; unless opts.HealthFallback
// lets a reader of the health alone stand in for a refusal for want of
// privilege.
func Open(opts Options) (Reader, error) {
	if opts.File != "" {
		return NewFileReader(opts.File, os.Stdin)
	}
	var ns *netNS
	if opts.NetNS != "" {
		var err error
		if ns, err = openNetNS(opts.NetNS); err != nil {
			return nil, &unavailableError{msg: err.Error(), err: err}
		}
	}
	r, err := openKind(opts.Kind, ns, opts.HealthFallback)
	if err != nil {
		ns.close()
		return nil, err
	}
	if nr, ok := r.(*NetlinkReader); ok {
		nr.eventBuffer = opts.EventBuffer
	}
	return r, nil
}

// openKind opens the source of kind in ns, or with healthFallback the health
// alone when the rows are refused for want of privilege; the reader owns ns
// if it succeeds.
func openKind(kind Kind, ns *netNS, healthFallback bool) (Reader, error) {
	var nerr, perr error
	switch kind {
	case KindNetlink:
		r, err := newNetlinkReader(ns)
		if err == nil {
			return r, nil
		}
		nerr = err
	case KindProc:
		r, err := openProc(ns, "")
		if err == nil {
			return r, nil
		}
		perr = err
	case KindAuto, "":
		r, err := newNetlinkReader(ns)
		if err == nil {
			return r, nil
		}
		nerr = err
		p, err := openProc(ns, nerr.Error())
		if err == nil {
			return p, nil
		}
		perr = err
	default:
		return nil, fmt.Errorf("unknown source %q (want auto, netlink or proc)", kind)
	}
	err := unavailable(nerr, perr)
	if need := rowsNeed(nerr, perr); healthFallback && need != "" {
		if h, herr := openHealthOnly(ns, err, need); herr == nil {
			return h, nil
		}
	}
	return nil, err
}

// unavailable joins the reasons of the sources tried (the netlink source's
// error, the /proc source's, either nil when it was not tried) into one line
// that ends with what fixes them, when the causes say (see hint).
func unavailable(netlinkErr, procErr error) error {
	msg := "cannot read the conntrack table: "
	var first error
	for _, err := range []error{netlinkErr, procErr} {
		if err == nil {
			continue
		}
		if first != nil {
			msg += "; "
		} else {
			first = err
		}
		// The /proc reader's error already says the table cannot be read.
		msg += strings.TrimPrefix(err.Error(), ErrUnavailable.Error()+": ")
	}
	if h := hint(netlinkErr, procErr); h != "" {
		msg += " (" + h + ")"
	}
	return &unavailableError{msg: msg, err: first}
}

// hint says what fixes the failures of the netlink and /proc sources (either
// error nil when that source was not tried), from their causes: a missing
// privilege, a module that is not loaded, or both. It is "" when no cause is
// recognised: the reasons themselves then say all that is known.
//
// The privileges differ by source: ctnetlink needs CAP_NET_ADMIN,
// /proc/net/nf_conntrack is readable by root only, and entering another
// network namespace (setns, for either source) needs CAP_SYS_ADMIN too.
func hint(netlinkErr, procErr error) string {
	var netnsPerm, netlinkPerm, procPerm, netlinkModule, procModule bool
	for i, err := range []error{netlinkErr, procErr} {
		var se *setnsError
		switch {
		case err == nil:
		case isPermission(err) && errors.As(err, &se):
			netnsPerm = true
		case isPermission(err) && i == 0:
			netlinkPerm = true
		case isPermission(err):
			procPerm = true
		case i == 0 && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOENT)):
			netlinkModule = true
		case i == 1 && errors.Is(err, fs.ErrNotExist):
			procModule = true
		}
	}
	var parts []string
	switch {
	case netnsPerm:
		parts = append(parts, "reading another network namespace needs CAP_SYS_ADMIN as well as CAP_NET_ADMIN: run as root")
	case netlinkPerm && procPerm:
		parts = append(parts, "run as root: netlink needs CAP_NET_ADMIN, and /proc/net/nf_conntrack is readable by root only")
	case netlinkPerm:
		parts = append(parts, "netlink needs CAP_NET_ADMIN: run as root or with CAP_NET_ADMIN")
	case procPerm:
		parts = append(parts, "/proc/net/nf_conntrack is readable by root only: run as root")
	}
	switch {
	case netlinkModule && procModule:
		parts = append(parts, "load the modules: modprobe nf_conntrack_netlink (which loads nf_conntrack too)")
	case netlinkModule:
		parts = append(parts, "load the module: modprobe nf_conntrack_netlink")
	case procModule:
		parts = append(parts, "load the module: modprobe nf_conntrack")
	}
	return strings.Join(parts, "; ")
}

// rowsNeed says what privilege the rows need when the netlink or /proc
// source (either error nil when not tried) was refused for want of one:
// "CAP_NET_ADMIN or root" when netlink was, "root" when only
// /proc/net/nf_conntrack was. It is "" when no source was refused for want
// of privilege, and when entering the namespace was: then its health cannot
// be read either.
func rowsNeed(netlinkErr, procErr error) string {
	var se *setnsError
	switch {
	case errors.As(netlinkErr, &se) || errors.As(procErr, &se):
		return ""
	case isPermission(netlinkErr):
		return "CAP_NET_ADMIN or root"
	case isPermission(procErr):
		return "root"
	}
	return ""
}

// isPermission reports whether err is a refusal for want of privilege
// (EPERM or EACCES).
func isPermission(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES)
}

// unavailableError is a one-line error that matches both ErrUnavailable and
// the first cause (errors.Is(err, unix.EPERM) works on it).
type unavailableError struct {
	msg string
	err error
}

func (e *unavailableError) Error() string { return e.msg }

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// openProc opens the /proc source in ns. When fallback is set (why netlink
// could not be used), every Table read carries it in Warnings together with
// the file read instead.
func openProc(ns *netNS, fallback string) (Reader, error) {
	var p *ProcReader
	err := ns.run(func() error {
		var err error
		p, err = NewProcReader("/proc")
		return err
	})
	if err != nil {
		return nil, err
	}
	if ns == nil && fallback == "" {
		return p, nil
	}
	w := &procInNS{r: p, ns: ns}
	if fallback != "" {
		w.warning = fallback + "; reading " + p.Path()
	}
	return w, nil
}

// procInNS runs a ProcReader's reads inside a network namespace (each
// per-namespace /proc file then shows that namespace) and adds the reason of
// a fallback to every Table. Each read fails with ErrNetNSGone, reading
// nothing, once the namespace is no longer what its name or path opens.
type procInNS struct {
	r       *ProcReader
	ns      *netNS
	warning string
}

func (p *procInNS) Read(t *flow.Table) error {
	if err := p.ns.check(); err != nil {
		return err
	}
	err := p.ns.run(func() error { return p.r.Read(t) })
	p.warn(t)
	return err
}

func (p *procInNS) ReadBatches(t *flow.Table, batch int, each func(rows []flow.Flow) bool) error {
	if err := p.ns.check(); err != nil {
		return err
	}
	err := p.ns.run(func() error { return p.r.ReadBatches(t, batch, each) })
	p.warn(t)
	return err
}

func (p *procInNS) ReadSummary(t *flow.Table) error {
	if err := p.ns.check(); err != nil {
		return err
	}
	err := p.ns.run(func() error { return p.r.ReadSummary(t) })
	p.warn(t)
	return err
}

// warn adds the reason of the fallback, if any, to t's warnings.
func (p *procInNS) warn(t *flow.Table) {
	if p.warning != "" {
		t.Warnings = append(t.Warnings, p.warning)
	}
}

func (p *procInNS) Refresh(rows []flow.Flow, res []Lookup) error { return p.r.Refresh(rows, res) }

func (p *procInNS) Close() error {
	err := p.r.Close()
	if cerr := p.ns.close(); err == nil {
		err = cerr
	}
	return err
}
