package storage_test

import (
	"testing"

	"github.com/shardtorrent/shardtorrent/storage"
	"github.com/shardtorrent/shardtorrent/storage/storagetest"
)

// TestFileStorageConformance runs the conformance suite over the file
// storage, buffered and with direct writes.
func TestFileStorageConformance(t *testing.T) {
	for _, direct := range []bool{false, true} {
		name := "buffered"
		if direct {
			name = "direct"
		}
		t.Run(name, func(t *testing.T) {
			storagetest.Run(t, storagetest.Impl{
				Open: func(t testing.TB, dir string, l storage.Layout) storage.Storage {
					s, err := storage.OpenWith(dir, l, storage.Options{PartFile: ".test.parts", DirectWrites: direct})
					if err != nil {
						t.Fatal(err)
					}
					return s
				},
				Persistent: true,
				OnDisk:     true,
			})
		})
	}
}

// TestMemoryStorageConformance runs the conformance suite over the memory
// storage.
func TestMemoryStorageConformance(t *testing.T) {
	storagetest.Run(t, storagetest.Impl{
		Open: func(t testing.TB, dir string, l storage.Layout) storage.Storage {
			s, err := storage.NewMemory(l, nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
