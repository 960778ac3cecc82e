package dbgen

import (
	"fmt"
	"strings"
)

// dbgen's free-text columns are slices of one large pool of pseudo-English
// generated once from the grammar in dists.go with a dedicated stream. A
// comment is the pool's bytes at a random offset with a random length, so
// reproducing comments byte for byte needs the whole pool, built exactly as
// dbgen builds it.

const (
	// textPoolSize is the length of dbgen's text pool: 300 MiB.
	textPoolSize = 300 << 20
	// textPoolSeed seeds the stream (dbgen's stream 5) that writes the pool.
	textPoolSeed = 933588178
	// maxSentence bounds one sentence of the grammar with room to spare; the
	// pool is built in a buffer with this much slack past its end.
	maxSentence = 1024
	// maxWord bounds the length of every distribution member.
	maxWord = 16
)

// picker draws members of a weighted distribution the way dbgen does: a
// uniform integer j in [1, total weight], then the first member whose
// cumulative weight reaches j. index maps j−1 straight to that member.
type picker struct {
	words []paddedWord
	total int64
	index []uint16
}

// paddedWord holds a word in a fixed-size block so that writing it is one
// 16-byte store, whatever its length; the bytes past n are junk to be
// overwritten by whatever follows.
type paddedWord struct {
	b [maxWord]byte
	n int
}

func newPicker(d []weighted) *picker {
	p := &picker{words: make([]paddedWord, len(d))}
	for i, m := range d {
		if len(m.text) > maxWord {
			panic(fmt.Sprintf("dbgen: distribution member %q is longer than %d bytes", m.text, maxWord))
		}
		p.words[i].n = copy(p.words[i].b[:], m.text)
		for range m.weight {
			p.index = append(p.index, uint16(i))
		}
	}
	p.total = int64(len(p.index))
	return p
}

// pick consumes one number from s and returns the chosen member's index.
func (p *picker) pick(s *stream) int {
	return int(p.index[s.uniform(1, p.total)-1])
}

// word consumes one number from s and returns the chosen member's text.
func (p *picker) word(s *stream) []byte {
	w := &p.words[p.pick(s)]
	return w.b[:w.n]
}

// put consumes one number from s, writes the chosen member at dst[n:] and
// returns the index just past it. dst must have maxWord bytes from n on.
func (p *picker) put(dst []byte, n int, s *stream) int {
	w := &p.words[p.pick(s)]
	*(*[maxWord]byte)(dst[n:]) = w.b
	return n + w.n
}

// phraseToken is one word slot of a noun or verb phrase: the distribution
// to draw from and the punctuation (0 for none) written right after it.
type phraseToken struct {
	from  *picker
	punct byte
}

// grammar is the compiled sentence grammar of dists.dss.
type grammar struct {
	prepositions, terminators           *picker
	sentences, nounPhrases, verbPhrases *picker
	// Compiled members of sentences, nounPhrases and verbPhrases, in the
	// same order as the pickers' members.
	sentenceForms   []string
	nounPhraseForms [][]phraseToken
	verbPhraseForms [][]phraseToken
}

func newGrammar() *grammar {
	nouns, verbs := newPicker(distNouns), newPicker(distVerbs)
	adverbs, adjectives := newPicker(distAdverbs), newPicker(distAdjectives)
	g := &grammar{
		prepositions: newPicker(distPrepositions),
		terminators:  newPicker(distTerminators),
		sentences:    newPicker(distGrammar),
		nounPhrases:  newPicker(distNounPhrases),
		verbPhrases:  newPicker(distVerbPhrases),
	}
	for _, m := range distGrammar {
		g.sentenceForms = append(g.sentenceForms, strings.ReplaceAll(m.text, " ", ""))
	}
	g.nounPhraseForms = compilePhrases(distNounPhrases, map[byte]*picker{
		'A': newPicker(distArticles), 'J': adjectives, 'D': adverbs, 'N': nouns,
	})
	g.verbPhraseForms = compilePhrases(distVerbPhrases, map[byte]*picker{
		'D': adverbs, 'V': verbs, 'X': newPicker(distAuxiliaries),
	})
	return g
}

// compilePhrases turns phrase patterns such as "J, J N" into token lists.
// The patterns are fixed data, so a bad letter is a programming error.
func compilePhrases(d []weighted, parts map[byte]*picker) [][]phraseToken {
	forms := make([][]phraseToken, len(d))
	for i, m := range d {
		for _, f := range strings.Fields(m.text) {
			src, ok := parts[f[0]]
			if !ok {
				panic(fmt.Sprintf("dbgen: phrase %q: unknown part of speech %q", m.text, f[0]))
			}
			t := phraseToken{from: src}
			if len(f) > 1 {
				t.punct = f[1]
			}
			forms[i] = append(forms[i], t)
		}
	}
	return forms
}

// putPhrase writes one noun or verb phrase at dst[n:] and returns the index
// just past it; each word is followed by its punctuation, if any, and a
// space.
func putPhrase(dst []byte, n int, forms [][]phraseToken, which *picker, s *stream) int {
	for _, t := range forms[which.pick(s)] {
		n = t.from.put(dst, n, s)
		if t.punct != 0 {
			dst[n] = t.punct
			n++
		}
		dst[n] = ' '
		n++
	}
	return n
}

// putSentence writes one sentence at dst[n:], drawing from s in dbgen's
// order, and returns the index just past it. The terminator replaces the
// space that ends the phrase before it, so a sentence ends with its
// terminator and never with a space. dst must have maxSentence bytes from n
// on.
func (g *grammar) putSentence(dst []byte, n int, s *stream) int {
	for _, part := range []byte(g.sentenceForms[g.sentences.pick(s)]) {
		switch part {
		case 'N':
			n = putPhrase(dst, n, g.nounPhraseForms, g.nounPhrases, s)
		case 'V':
			n = putPhrase(dst, n, g.verbPhraseForms, g.verbPhrases, s)
		case 'P':
			n = g.prepositions.put(dst, n, s)
			n += copy(dst[n:], " the ")
			n = putPhrase(dst, n, g.nounPhraseForms, g.nounPhrases, s)
		case 'T':
			n = g.terminators.put(dst, n-1, s)
		}
	}
	return n
}

// buildTextPool writes dbgen's 300 MiB text pool to the first textPoolSize
// bytes of buf, which must be textPoolSize+maxSentence long: sentences
// separated by single spaces, the last one cut off at the pool's end.
func buildTextPool(buf []byte) {
	g := newGrammar()
	s := stream{x: textPoolSeed}
	for n := 0; n < textPoolSize; n++ {
		n = g.putSentence(buf, n, &s)
		buf[n] = ' '
	}
}
