//go:build go1.26 || (go1.24 && goexperiment.swissmap)

// Swiss-table maps: Go 1.24/1.25 by default (experiment "swissmap", on unless
// GOEXPERIMENT=noswissmap) and the only maps from Go 1.26, where the
// experiment and its build tag are gone. Mirrors internal/runtime/maps
// (map.go, table.go, group.go) and internal/abi (Swiss)MapType.

package fleetkit

import "unsafe"

const mapImpl = "swiss"

// Constants from internal/runtime/maps/group.go.
const (
	slotsPerGroup = 8
	ctrlEmpty     = 0x80
	ctrlDeleted   = 0xFE
)

// swissMap mirrors maps.Map. tombstonePossible exists from Go 1.25; in 1.24
// its byte is padding (clearSeq is 8-aligned either way), see swiss_go124.go.
type swissMap struct {
	used              uint64
	seed              uintptr
	dirPtr            unsafe.Pointer
	dirLen            int
	globalDepth       uint8
	globalShift       uint8
	writing           uint8
	tombstonePossible bool
	clearSeq          uint64
}

// swissTable mirrors maps.table with its groupsReference inlined.
type swissTable struct {
	used       uint16
	capacity   uint16
	growthLeft uint16
	localDepth uint8
	index      int
	groupsData unsafe.Pointer
	lengthMask uint64
}

// swissMapType mirrors the prefix of abi.SwissMapType (abi.MapType from 1.26) up to GroupSize.
type swissMapType struct {
	mapTypeHead
	groupSize uintptr
}

func readMap(mt *MapTruth, hdr, typ unsafe.Pointer) {
	st := (*swissMapType)(typ)
	if st.groupSize != st.bucketOrGroup.size {
		// The mirror no longer matches this runtime: fail loudly rather than report garbage.
		panic("fleetkit: abi.MapType mirror is wrong for this Go version")
	}
	mt.Type = map[string]any{
		"group_size":         st.groupSize,
		"slot_size":          (st.groupSize - 8) / slotsPerGroup,
		"group_has_pointers": st.bucketOrGroup.ptrBytes != 0,
	}
	if hdr == nil {
		return
	}
	m := (*swissMap)(hdr)
	header := map[string]any{
		"used":        m.used,
		"seed":        uint64(m.seed),
		"dirPtr":      hex(m.dirPtr),
		"dirLen":      m.dirLen,
		"globalDepth": m.globalDepth,
		"globalShift": m.globalShift,
		"writing":     m.writing,
		"clearSeq":    m.clearSeq,
	}
	if hasTombstonePossible {
		header["tombstonePossible"] = m.tombstonePossible
	} else {
		header["tombstonePossible"] = nil
	}
	mt.Header = header

	walk := map[string]any{"dir_entries": m.dirLen}
	if m.dirLen == 0 {
		// Small map: dirPtr is one group (nil until the first insert).
		live, tomb := 0, 0
		if m.dirPtr != nil {
			live, tomb = countCtrl(m.dirPtr, 0, st.groupSize)
		}
		walk["small_group"] = hex(m.dirPtr)
		walk["live"], walk["tombstones"], walk["distinct_tables"], walk["groups"] = live, tomb, 0, 0
		mt.Walk = walk
		return
	}
	dir := unsafe.Slice((**swissTable)(m.dirPtr), m.dirLen)
	seen := map[*swissTable]int{}
	live, tomb, groups := 0, 0, uint64(0)
	for _, t := range dir {
		if n, ok := seen[t]; ok {
			mt.Tables[n].DirRefs++
			continue
		}
		seen[t] = len(mt.Tables)
		tl, tt := countCtrl(t.groupsData, t.lengthMask, st.groupSize)
		live, tomb, groups = live+tl, tomb+tt, groups+t.lengthMask+1
		mt.Tables = append(mt.Tables, TableTruth{
			Addr: hex(unsafe.Pointer(t)), Used: t.used, Capacity: t.capacity, GrowthLeft: t.growthLeft,
			LocalDepth: t.localDepth, Index: t.index,
			Groups:  GroupsTruth{Data: hex(t.groupsData), LengthMask: t.lengthMask},
			DirRefs: 1, Live: tl, Tombstones: tt,
		})
	}
	walk["live"], walk["tombstones"], walk["distinct_tables"], walk["groups"] = live, tomb, len(mt.Tables), groups
	mt.Walk = walk
}

// countCtrl counts full and deleted slots in the control words of groups 0..lengthMask.
func countCtrl(data unsafe.Pointer, lengthMask uint64, groupSize uintptr) (live, tombstones int) {
	for g := uint64(0); g <= lengthMask; g++ {
		ctrl := (*[slotsPerGroup]uint8)(unsafe.Add(data, uintptr(g)*groupSize))
		for _, c := range ctrl {
			switch {
			case c&ctrlEmpty == 0:
				live++
			case c == ctrlDeleted:
				tombstones++
			}
		}
	}
	return live, tombstones
}

// Growing is always false for Swiss tables: they grow or split a table in one
// step, so there is no half-evacuated state to get stuck in.
func Growing[K comparable, V any](m map[K]V) bool { return false }
