package wire

import "testing"

func BenchmarkDecodePiece(b *testing.B) {
	frame := AppendPiece(nil, 1, 2*BlockSize, make([]byte, BlockSize))
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		m, n, err := d.Next(frame)
		if err != nil || n != len(frame) || len(m.Payload) != BlockSize {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	frame := AppendRequest(nil, 1, 2*BlockSize, BlockSize)
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		m, n, err := d.Next(frame)
		if err != nil || n != len(frame) || m.Length != BlockSize {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkAppendRequest(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(4 + requestLen)
	for b.Loop() {
		buf = AppendRequest(buf[:0], 1, 2*BlockSize, BlockSize)
	}
}
