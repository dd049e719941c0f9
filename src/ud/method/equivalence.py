"""Semantic equivalence for open answers (paper Appendix A.1): which surface forms name the same answer.

Key normalizers map an answer string to a canonical key; two answers are equivalent when their keys are equal:
  numeric  currency, units, thousands separators, decimals, fractions, percentages, small number words:
           "10", "$10", "10.00", "ten dollars" -> "10"; "1,000" -> "1000"; "1/2", "0.5", "50%" -> "0.5"
  last_number  the last number in the answer, for math answers that show work ("4 * 8 = 32" -> "32")
  text     SQuAD-style: lowercase, drop punctuation and articles (a/an/the), collapse whitespace
They compose (`chain`): the first normalizer that understands an answer gives its key, so "10 apples" and "ten"
meet under numeric while "Paris" falls through to text. Pairwise methods (NLI, LLM judge) cluster what keys
cannot; they build on these keys.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
WORDS: dict[str, int] = {w: i for i, w in enumerate(_ONES)}
WORDS.update({w: 10 * i for i, w in enumerate(_TENS) if w})
SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
FRACTION_WORDS = {"half": Fraction(1, 2), "quarter": Fraction(1, 4), "third": Fraction(1, 3)}

# units and currency words that may follow or precede a number without changing it
_UNIT = (r"(?:dollars?|usd|cents?|euros?|eur|pounds?|gbp|yen|rupees?|percent|per\s*cent|%|"
         r"km|kilometers?|kilometres?|m|meters?|metres?|cm|mm|miles?|feet|foot|ft|inch(?:es)?|in|yards?|"
         r"kg|kilograms?|g|grams?|lbs?|pounds?|ounces?|oz|l|liters?|litres?|ml|gallons?|"
         r"hours?|hrs?|h|minutes?|mins?|seconds?|secs?|s|days?|weeks?|months?|years?|"
         r"degrees?|°)")
# any other plural word after a number ("6 apples") is a unit only when written in lower case: "Three Kings" and
# "Three Musketeers" are names, not 3 of something
_PLURAL = r"(?:[a-z]+s)"
_NUMBER = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?$")
_FRACTION = re.compile(r"^([-+]?\d+)\s*/\s*(\d+)$")
_MIXED = re.compile(r"^([-+]?\d+)\s+(\d+)\s*/\s*(\d+)$")
_CURRENCY = "$€£¥₹"


def _words_to_number(text: str) -> Fraction | None:
    """'ten', 'twenty-one', 'one hundred and five', 'two thousand', 'a half', 'three quarters' -> value."""
    tokens = [t for t in re.split(r"[\s-]+", text.lower().replace(" and ", " ")) if t]
    if not tokens:
        return None
    if len(tokens) <= 2 and tokens[-1].rstrip("s") in FRACTION_WORDS:  # "a half", "three quarters"
        base = FRACTION_WORDS[tokens[-1].rstrip("s")]
        if len(tokens) == 1 or tokens[0] in ("a", "one", "an"):
            return base
        if tokens[0] in WORDS:
            return base * WORDS[tokens[0]]
        return None
    total, current = 0, 0
    for t in tokens:
        if t in WORDS:
            current += WORDS[t]
        elif t in SCALES:
            current = max(current, 1) * SCALES[t]
            if SCALES[t] >= 1000:
                total, current = total + current, 0
        else:
            return None
    return Fraction(total + current)


def _canonical(value: Fraction | Decimal) -> str | None:
    with localcontext() as ctx:
        ctx.prec = 80  # long digit strings must not overflow the default 28-digit context
        d = Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else value
        try:
            d = d.quantize(Decimal("1.000000")).normalize()  # 6 decimals: 1/3 and 0.333333 agree
        except InvalidOperation:  # beyond 80 digits: not an answer we can compare
            return None
        s = format(d, "f")
    return "0" if s in ("-0", "0") else s


def _parse(s: str) -> Fraction | Decimal | None:
    if _NUMBER.match(s) and any(c.isdigit() for c in s):
        try:
            return Decimal(s.replace(",", ""))
        except InvalidOperation:
            return None
    if m := _MIXED.match(s):
        whole, num, den = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return Fraction(whole) + Fraction(num, den) if den else None
    if m := _FRACTION.match(s):
        return Fraction(int(m.group(1)), int(m.group(2))) if int(m.group(2)) else None
    return _words_to_number(s)


def numeric_key(answer: str) -> str | None:
    """Canonical decimal string for an answer that is a number (with currency/unit/percent decorations), or None.
    Percentages become fractions ("50%" -> "0.5"), so "50%" and "0.5" agree, as they should for a probability."""
    plural_ok = not re.search(r"\b[A-Z][a-z]*s\W*$", answer.strip())  # a capitalised last word is a name
    s = answer.strip().lower().rstrip(".!").strip()
    s = re.sub(r"^(?:the answer is|answer:|approximately|about|around|roughly|=)\s*", "", s)
    s = s.strip("*_ ")
    percent = bool(re.search(r"(%|\bper\s*cent\b|\bpercent\b)\s*$", s))
    s = re.sub(r"^[" + _CURRENCY + r"]\s*", "", s)
    s = re.sub(r"\s*[" + _CURRENCY + r"]$", "", s)
    value = _parse(s)
    # strip trailing unit words (at most two: "10 dollars", "6 red apples" is out of scope)
    for _ in range(2):
        if value is not None:
            break
        s2 = re.sub(r"\s*" + (f"(?:{_UNIT}|{_PLURAL})" if plural_ok else _UNIT) + r"$", "", s).strip()
        s2 = re.sub(r"^[" + _CURRENCY + r"]\s*", "", s2).strip()
        if s2 == s or not s2:
            break
        s = s2
        value = _parse(s)
    if value is None:
        return None
    if percent:
        value = (Fraction(value) if isinstance(value, Fraction) else Fraction(value)) / 100
    return _canonical(value)


_LAST_NUMBER = re.compile(r"[-+]?[$€£]?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?%?")


def last_number_key(answer: str) -> str | None:
    """The last number written in the answer ("4 * 8 = 32" -> "32", "so she makes $18." -> "18"): the usual
    reading of math answers that show their work. Not for text tasks ("2014-01-22" would read as 22)."""
    found = _LAST_NUMBER.findall(answer)
    return numeric_key(found[-1].strip()) if found else None


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | set("‘’“”")


def text_key(answer: str) -> str | None:
    """SQuAD normalization: lowercase, remove punctuation, articles and extra whitespace."""
    s = "".join(ch for ch in answer.lower() if ch not in _PUNCT)
    s = " ".join(_ARTICLES.sub(" ", s).split())
    return s or None


KEYS: dict[str, Callable[[str], str | None]] = {"numeric": numeric_key, "last_number": last_number_key,
                                                "text": text_key}


# what kind of value each normalizer's key is: keys of one kind compare with each other ("32" read by numeric
# equals "4 * 8 = 32" read by last_number), keys of different kinds never do
KIND = {"numeric": "number", "last_number": "number", "text": "text"}


def chain(names: list[str]) -> Callable[[str], str | None]:
    """Compose key normalizers: the first one that returns a key wins; the key records its kind."""
    unknown = [n for n in names if n not in KEYS]
    if unknown:
        raise ValueError(f"unknown normalizer(s) {unknown}; known: {sorted(KEYS)}")
    fns = [(KIND[n], KEYS[n]) for n in names]

    def key(answer: str) -> str | None:
        for name, fn in fns:
            k = fn(answer)
            if k is not None:
                return f"{name}:{k}"
        return None

    return key
