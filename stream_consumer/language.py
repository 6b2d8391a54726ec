"""Each message's language, by Compact Language Detector 2 (`pycld2`: its tables are compiled into the
wheel, ~20 µs a message). It reads what the encoder reads (`encoder.prepare`: NFC, capped), and says
`und` (undetermined) when it is not sure, e.g. for a two-word tweet of slang and handles.
"""

import pycld2

from stream_consumer.encoder import prepare

UNDETERMINED = "und"
_MIN_PERCENT = 60  # share of the text in the top language for a confident answer


def identify(text: str) -> str:
    """The ISO 639-1 code of the text's language (`zh-Hant`-style for a few), or `und`."""
    try:
        utf8 = prepare(text).encode("utf-8", "replace")  # a lone surrogate becomes "?"
        reliable, _, found = pycld2.detect(utf8, isPlainText=True)
    except pycld2.error:  # bytes it refuses (some control characters): no language
        return UNDETERMINED
    _name, code, percent, _score = found[0]
    if not reliable or code in ("un", "xx") or percent < _MIN_PERCENT:
        return UNDETERMINED
    return str(code)
