package ring

// The functions in this file decide where data lives. Their output is part of
// the on-disk and on-wire contract of the cluster: changing any constant or
// step below silently moves every user to another partition. The golden files
// in testdata/ pin them; a failing golden test means the change must be
// reverted, not the golden files regenerated.

const (
	fnvOffset64 = 14695981039346656037 // FNV-1a 64-bit offset basis
	fnvPrime64  = 1099511628211        // FNV-1a 64-bit prime

	// MaxPartitions is the largest partition count: partition ids are uint16.
	MaxPartitions = 1 << 16
)

// fnv1a64 is the 64-bit FNV-1a hash (the same function as hash/fnv.New64a),
// written out so that hashing a string neither converts nor allocates.
func fnv1a64[T ~string | ~[]byte](b T) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= fnvPrime64
	}
	return h
}

// mix64 is the 64-bit finalizer of MurmurHash3 (fmix64). It is a bijection on
// uint64 in which every input bit affects every output bit.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// Hash64 is the ring's fixed 64-bit hash: mix64(FNV-1a-64(b)), where mix64 is
// MurmurHash3's fmix64 finalizer. It is stable across runs, platforms and Go
// versions, and it never uses Go's per-process randomized map hash.
//
// The finalizer matters: in plain FNV-1a the low k bits of the hash depend
// only on the low k bits of each input byte, so with 64 partitions (h % 64)
// the names "user0" and "userp" (0x30 and 0x70) would always collide.
func Hash64(b []byte) uint64 { return mix64(fnv1a64(b)) }

// HashString is Hash64 of the bytes of s, without converting or allocating.
func HashString(s string) uint64 { return mix64(fnv1a64(s)) }

// PartitionOf returns the partition, in [0, partitions), that is home to user:
// HashString(user) % partitions. The name must already be canonical (the ring
// hashes bytes, it does not fold case or normalize Unicode).
//
// The mapping is stable forever for a given partition count; the partition
// count itself is fixed when a cluster is created. PartitionOf does not
// allocate. It panics if partitions is not in [1, MaxPartitions].
func PartitionOf(user string, partitions int) uint16 {
	if partitions < 1 || partitions > MaxPartitions {
		panic("ring: partition count out of range")
	}
	return uint16(HashString(user) % uint64(partitions))
}

// score is the rendezvous weight of a member (given by the HashString of its
// id) for a partition: mix64(idHash ^ mix64(pid + 0x9e3779b97f4a7c15)).
// The partition key is mixed on its own so that consecutive pids give
// unrelated keys, and the golden-ratio offset keeps pid 0 away from mix64's
// fixed point at zero.
func score(idHash uint64, pid int) uint64 {
	return mix64(idHash ^ mix64(uint64(pid)+0x9e3779b97f4a7c15))
}
