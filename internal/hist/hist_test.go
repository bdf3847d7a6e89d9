package hist

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestQuantiles(t *testing.T) {
	var h H
	var xs []int64
	for i := 0; i < 100000; i++ {
		v := int64(rand.ExpFloat64() * 50000)
		xs = append(xs, v)
		h.Record(time.Duration(v))
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := xs[int(q*float64(len(xs)))]
		got := int64(h.Quantile(q))
		if d := float64(got-want) / float64(want); d > 0.02 || d < -0.02 {
			t.Errorf("q%.3f = %d, want %d (%.1f%% off)", q, got, want, 100*d)
		}
	}
	for v := int64(0); v < 1<<20; v = v*3/2 + 1 {
		if l := lower(index(v)); l > v || float64(v-l)/float64(v+1) > 0.016 {
			t.Fatalf("value %d lands in a bucket starting at %d", v, l)
		}
	}
}
