package audit

import "fmt"

// Verification is what Verify found.
type Verification struct {
	Records     int    // records read
	Head        string // the last record as a checkpoint (SEQ:HASH), "(empty)" for an empty trail
	Checkpoints int    // checkpoints given, all found when Problem is empty
	// Problem is empty when the chain is intact and every checkpoint is
	// held; otherwise it names the first record that was changed, removed
	// or inserted, or the first checkpoint the trail no longer holds.
	Problem string
}

// Verify walks the hash chain of recs (the whole trail, oldest first) from
// the first record, then checks that the trail still holds every
// checkpoint: the chain alone cannot tell that records were cut off its end.
func Verify(recs []Record, cps []Checkpoint) Verification {
	v := Verification{Records: len(recs), Head: "(empty)", Checkpoints: len(cps)}
	prev, seq := "", int64(0)
	for i, r := range recs {
		var problem string
		switch {
		case r.Seq != seq+1:
			problem = fmt.Sprintf("sequence jumps from %d to %d (records removed)", seq, r.Seq)
		case r.PrevHash != prev:
			problem = "its prev_hash does not match the record before it (a record before it was changed or removed)"
		case ChainHash(r) != r.Hash:
			problem = "its content does not match its hash (the record was changed)"
		}
		if problem != "" {
			v.Problem = fmt.Sprintf("chain broken at index %d (seq %d): %s", i, r.Seq, problem)
			return v
		}
		prev, seq = r.Hash, r.Seq
	}
	if problem := checkCheckpoints(recs, cps); problem != "" {
		v.Problem = problem
		return v
	}
	if len(recs) > 0 {
		v.Head = Head(recs[len(recs)-1]) // the form --checkpoint takes
	}
	return v
}
