package source

import (
	"errors"
	"fmt"

	"github.com/gostate/gostate/internal/flow"
	"golang.org/x/sys/unix"
)

// Delete removes f's entry from the kernel's table. It sends both tuples and
// the zone, which the kernel needs to find IPv6 entries, and f's conntrack ID
// when f has one, so that a newer entry with the same original tuple is left
// alone. (Best effort: the kernel's ID hashes the entry's address and
// original tuple, so a new entry in the old one's memory has the same ID.) An entry that is already gone gives an error wrapping ErrNotFound.
func (r *NetlinkReader) Delete(f *flow.Flow) error {
	r.queryMu.Lock()
	defer r.queryMu.Unlock()
	c := r.query
	seq := c.startRequest(ctMsgDelete, nlmFRequest|nlmFAck, uint8(f.Family))
	c.req = appendTuple(c.req, ctaTupleOrig, f, &f.Orig)
	c.req = appendTuple(c.req, ctaTupleReply, f, &f.Reply)
	c.req = appendBE16(c.req, ctaZone, f.Zone)
	if f.Present&flow.HasID != 0 {
		c.req = appendBE32(c.req, ctaID, f.ID)
	}
	finishRequest(c.req, 0)
	if err := c.send(c.req); err != nil {
		return fmt.Errorf("netlink delete: %w", err)
	}
	switch err := c.await(seq); {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("netlink delete: %w", ErrNotFound)
	case err != nil:
		return fmt.Errorf("netlink delete: %w", err)
	}
	return nil
}
