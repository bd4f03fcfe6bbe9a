package hlr

// Effect is what a partition's leader does after a command commits,
// decided inside the apply (deterministic) and carried out by the node.
type Effect interface{ isEffect() }
