package topics

// ParseCanonicalUUID reads a canonical lower-case UUID (8-4-4-4-12 hex
// digits) into its 16 bytes. Any other spelling is not canonical and gives
// false, so that callers that keep ids as bytes when they can still tell
// apart every id that differs as written (case included).
func ParseCanonicalUUID[T string | []byte](s T) (id [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, false
	}
	// Exactly the 32 digits between the four dashes: a '-' anywhere else is
	// not a digit, so two ids that differ as written never share bytes.
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, ok1 := hexDigit(s[i])
		lo, ok2 := hexDigit(s[i+1])
		if !ok1 || !ok2 {
			return [16]byte{}, false
		}
		id[j] = hi<<4 | lo
		j++
	}
	return id, true
}

// hexDigit is the value of a lower-case hex digit.
func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
