package scenario

import (
	"fmt"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
)

// MaxValue bounds the magnitude of every value in a scenario or set through
// the admin API, so that values (and generators combining them) convert to a
// resource.Quantity in milli-units without overflow.
const MaxValue = 1e15

// ParseValue parses a number ("1.5", "-2", "1e3") or a Kubernetes quantity
// ("1500m", "2k", "1Mi"). The result must be finite and within ±MaxValue.
func ParseValue(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		q, qerr := resource.ParseQuantity(s)
		if qerr != nil {
			return 0, fmt.Errorf("invalid value %q: want a number or a quantity such as \"1500m\"", s)
		}
		v = q.AsApproximateFloat64()
	}
	if err := checkValue(v); err != nil {
		return 0, fmt.Errorf("invalid value %q: %s", s, err)
	}
	return v, nil
}

func checkValue(v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("not a finite number")
	case math.Abs(v) > MaxValue:
		return fmt.Errorf("magnitude above %g", MaxValue)
	}
	return nil
}

// quantitySuffixes are the decimal SI suffixes for exponents -3, 0, 3, ... 18.
var quantitySuffixes = [...]string{"m", "", "k", "M", "G", "T", "P", "E"}

// AppendQuantity appends v, rounded to milli-units, in the canonical form
// resource.NewMilliQuantity(round(v*1000), resource.DecimalSI).String() gives
// ("1500m", "42", "3k", "-250m"), without allocating. Values beyond ±MaxValue
// are clamped; NaN is written as "0".
func AppendQuantity(dst []byte, v float64) []byte {
	m := milli(v)
	if m == 0 {
		return append(dst, '0')
	}
	exp := 0 // index into quantitySuffixes
	for m%1000 == 0 && exp < len(quantitySuffixes)-1 {
		m /= 1000
		exp++
	}
	dst = strconv.AppendInt(dst, m, 10)
	return append(dst, quantitySuffixes[exp]...)
}

// FormatQuantity is AppendQuantity returning a string.
func FormatQuantity(v float64) string {
	var buf [32]byte
	return string(AppendQuantity(buf[:0], v))
}

// Quantity converts v to a resource.Quantity in milli-units (DecimalSI), the
// same value AppendQuantity writes.
func Quantity(v float64) *resource.Quantity {
	return resource.NewMilliQuantity(milli(v), resource.DecimalSI)
}

func milli(v float64) int64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v > MaxValue:
		v = MaxValue
	case v < -MaxValue:
		v = -MaxValue
	}
	return int64(math.Round(v * 1000))
}
