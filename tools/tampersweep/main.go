// Command tampersweep writes an embedded ledger of a few thousand records,
// stops it, then flips single bytes of its store file, one copy per flip, and
// runs the real `tdsc audit verify` on each copy. Every flip must end one of
// two ways: verify fails naming where (detected), or verify passes and the
// copy's content is, key for key, the pristine one (the flip hit a free page
// or page slack: harmless). A pass over changed content, a panic, or a verify
// that does not finish in time fails the sweep.
//
// Offsets are drawn from every bucket's live keys and values (records,
// batches, checkpoints, ids, tree, idx, meta, state.*) and uniformly from the
// whole file. Used by scripts/chaos.sh; not linked into tdsc.
//
//	go run ./tools/tampersweep -tdsc ./tdsc -records 3000 -flips 300
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

func main() {
	tdsc := flag.String("tdsc", "tdsc", "the tdsc binary to run audit verify with")
	records := flag.Int("records", 3000, "records in the ledger")
	flips := flag.Int("flips", 300, "single-byte flips to try")
	seed := flag.Uint64("seed", 19, "random seed (offsets are reproducible)")
	work := flag.String("work", "", "working directory (default: a temporary one, removed after)")
	flag.Parse()
	if err := run(*tdsc, *records, *flips, *seed, *work); err != nil {
		fmt.Fprintln(os.Stderr, "tampersweep:", err)
		os.Exit(1)
	}
}

type flip struct {
	off    int64
	region string // bucket name (key or value), or "file" for a uniform draw
}

type outcome struct {
	detected, located, harmless int
	failures                    []string
}

func run(tdsc string, records, flips int, seed uint64, work string) error {
	if work == "" {
		d, err := os.MkdirTemp("", "tdsc-tamper-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	src := filepath.Join(work, "pristine")
	n, err := build(src, records)
	if err != nil {
		return fmt.Errorf("build ledger: %w", err)
	}
	if out, err := exec.Command(tdsc, "audit", "verify", "--ledger", src).CombinedOutput(); err != nil {
		return fmt.Errorf("pristine ledger does not verify: %v\n%s", err, out)
	}
	want, err := dump(src)
	if err != nil {
		return err
	}
	file, err := os.ReadFile(filepath.Join(src, embedded.DBFile))
	if err != nil {
		return err
	}
	fs, err := offsets(src, int64(len(file)), flips, rand.New(rand.NewPCG(seed, seed)))
	if err != nil {
		return err
	}
	fmt.Printf("tamper sweep: %d records, store file %d bytes, %d flips\n", n, len(file), len(fs))
	by := map[string]*outcome{}
	total := &outcome{}
	start := time.Now()
	for i, f := range fs {
		o := by[f.region]
		if o == nil {
			o = &outcome{}
			by[f.region] = o
		}
		res, detail := try(tdsc, src, filepath.Join(work, fmt.Sprintf("flip-%d", i)), file, f.off, want)
		for _, x := range []*outcome{o, total} {
			switch res {
			case "located":
				x.detected++
				x.located++
			case "detected":
				x.detected++
			case "harmless":
				x.harmless++
			default:
				x.failures = append(x.failures, fmt.Sprintf("offset %d (%s): %s: %s", f.off, f.region, res, detail))
			}
		}
	}
	names := make([]string, 0, len(by))
	for k := range by {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Printf("%-24s %6s %9s %8s %9s %7s\n", "region", "flips", "detected", "located", "harmless", "failed")
	for _, k := range names {
		o := by[k]
		fmt.Printf("%-24s %6d %9d %8d %9d %7d\n", k, o.detected+o.harmless+len(o.failures), o.detected, o.located, o.harmless, len(o.failures))
	}
	fmt.Printf("%-24s %6d %9d %8d %9d %7d   (%.1fs)\n", "all", len(fs), total.detected, total.located, total.harmless, len(total.failures), time.Since(start).Seconds())
	for _, f := range total.failures {
		fmt.Println("FAIL", f)
	}
	if len(total.failures) > 0 || total.located != total.detected {
		return fmt.Errorf("%d flips not handled (%d detected without a location)", len(total.failures), total.detected-total.located)
	}
	return nil
}

// try flips the byte at off in a copy and runs verify on it.
func try(tdsc, src, dst string, file []byte, off int64, want map[string]string) (string, string) {
	defer os.RemoveAll(dst)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return "setup", err.Error()
	}
	data := bytes.Clone(file)
	data[off] ^= 0x20
	vk, _ := os.ReadFile(filepath.Join(src, embedded.VerifierKey))
	if err := os.WriteFile(filepath.Join(dst, embedded.DBFile), data, 0o600); err != nil {
		return "setup", err.Error()
	}
	if err := os.WriteFile(filepath.Join(dst, embedded.VerifierKey), vk, 0o600); err != nil {
		return "setup", err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tdsc, "audit", "verify", "--ledger", dst).CombinedOutput()
	text := string(out)
	switch {
	case ctx.Err() != nil:
		return "hang", "verify did not finish in 60s"
	case strings.Contains(text, "panic:") || strings.Contains(text, "goroutine "):
		return "panic", firstLine(text)
	case err != nil:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return "exec", err.Error()
		}
		if located(text) {
			return "located", ""
		}
		return "detected", firstLine(text)
	}
	got, derr := dump(dst)
	if derr != nil {
		return "undetected", "verify passed, the copy does not read: " + derr.Error()
	}
	if d := diff(want, got); d != "" {
		return "undetected", "verify passed over changed content: " + d
	}
	return "harmless", ""
}

// located: verify's message names a record index, batch, checkpoint, bucket
// key or page.
func located(msg string) bool {
	for _, w := range []string{"index ", "batch ", "checkpoint ", "bucket", "meta page", "page ", "record "} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// dump reads every bucket's keys and values (and runs bbolt's page check),
// recovering from a panic on damaged pages.
func dump(dir string) (m map[string]string, err error) {
	// A damaged page can point bbolt outside its mapping: a fault, made a panic.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic reading: %v", p)
		}
	}()
	db, err := bolt.Open(filepath.Join(dir, embedded.DBFile), 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	m = map[string]string{}
	err = db.View(func(tx *bolt.Tx) error {
		// Every key first, on this goroutine (faults recovered); bbolt's
		// page check runs on a goroutine of its own.
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				m[string(name)+"\x00"+string(k)] = string(v)
				if got := b.Get(k); !bytes.Equal(got, v) {
					return fmt.Errorf("%s/%x: found by a walk, not by a search", name, k)
				}
				return nil
			})
		}); err != nil {
			return err
		}
		for e := range tx.Check() {
			return e
		}
		return nil
	})
	return m, err
}

func diff(a, b map[string]string) string {
	for k, v := range a {
		if w, ok := b[k]; !ok {
			return fmt.Sprintf("key %q missing", k)
		} else if w != v {
			return fmt.Sprintf("value of %q changed", k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			return fmt.Sprintf("key %q added", k)
		}
	}
	return ""
}

// offsets draws flips: about two thirds from live keys and values, spread
// over the buckets, the rest uniformly over the file.
func offsets(dir string, size int64, n int, rng *rand.Rand) ([]flip, error) {
	db, err := bolt.Open(filepath.Join(dir, embedded.DBFile), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	base := db.Info().Data
	live := map[string][]int64{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				for part, s := range map[string][]byte{"key": k, "value": v} {
					if len(s) == 0 {
						continue
					}
					// Only bytes that lie in the mapped file (inline buckets'
					// values are copied out by bbolt).
					off := int64(uintptr(unsafe.Pointer(&s[0])) - base)
					if off < 0 || off+int64(len(s)) > size {
						continue
					}
					region := string(name) + " " + part
					live[region] = append(live[region], off+rng.Int64N(int64(len(s))))
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, err
	}
	regions := make([]string, 0, len(live))
	for r := range live {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	var fs []flip
	perRegion := max(1, (2*n/3)/max(1, len(regions)))
	for _, r := range regions {
		offs := live[r]
		rng.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
		for _, o := range offs[:min(perRegion, len(offs))] {
			fs = append(fs, flip{o, r})
		}
	}
	// bbolt's two meta pages (header, root, freelist, txid, checksum).
	ps := int64(db.Info().PageSize)
	for i := 0; i < max(2, n/30); i++ {
		fs = append(fs, flip{int64(i%2)*ps + rng.Int64N(80), "meta pages"})
	}
	for len(fs) < n {
		fs = append(fs, flip{rng.Int64N(size), "file (uniform)"})
	}
	return fs, nil
}

// build writes a ledger of about n records: participants, rules, datasets,
// agreements, transfers and completions, objections, in batches of ten.
func build(dir string, n int) (int, error) {
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		return 0, err
	}
	s, err := embedded.Open(ctx, dir, sp.Genesis, embedded.Options{})
	if err != nil {
		return 0, err
	}
	defer s.Close(ctx)
	count := 0
	add := func(w string, recs ...ledger.Record) error {
		b, err := sp.Batch(w, recs...)
		if err != nil {
			return err
		}
		if _, err := s.Append(ctx, b); err != nil {
			return err
		}
		count += len(recs)
		return nil
	}
	regions := []string{"CN-BJ", "CN-SH", "CN-GD", "SG"}
	var auth []ledger.Record
	for i := 0; i < 8; i++ {
		r, err := sp.Participant(fmt.Sprintf("p%d", i), regions[i%len(regions)])
		if err != nil {
			return 0, err
		}
		auth = append(auth, r)
	}
	auth = append(auth, sp.Rules(policy.SpaceRules{NegativeList: []policy.NegativeEntry{{Category: "human-genetic-resources"}}}))
	if err := add(sp.Authority(), auth...); err != nil {
		return 0, err
	}
	for round := 0; count < n; round++ {
		prov, cons := fmt.Sprintf("p%d", round%8), fmt.Sprintf("p%d", (round+1)%8)
		ds, ag := fmt.Sprintf("ds-%d", round), fmt.Sprintf("ag-%d", round)
		a, err := sp.Agreement(prov, cons, ds, ag, nil)
		if err != nil {
			return 0, err
		}
		if err := add(prov, sp.Dataset(prov, ds, policy.General, "transport"), a); err != nil {
			return 0, err
		}
		var ts, cs []ledger.Record
		for t := 0; t < 10; t++ {
			id := fmt.Sprintf("t-%d-%d", round, t)
			ts = append(ts, sp.Transfer(prov, cons, ag, ds, id))
			cs = append(cs, sp.Completed(cons, id, int64(1000+t)))
		}
		if err := add(prov, ts...); err != nil {
			return 0, err
		}
		if err := add(cons, cs...); err != nil {
			return 0, err
		}
		if round%10 == 0 {
			if err := add(cons, sp.ObjectionFiled(cons, ds, fmt.Sprintf("obj-%d", round))); err != nil {
				return 0, err
			}
		}
	}
	return count, s.Close(ctx)
}
