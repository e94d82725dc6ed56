package checks

// HintsFor returns the remediation steps the evidence supports for a
// diagnosis. STUB: the catalogue lands with the target/hints work.
func HintsFor(d Diagnosis, e Evidence) []Hint { return nil }
