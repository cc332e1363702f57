"""Normalise social-media text for place recognition, keeping a map back to the original offsets.

HTML entities are decoded, URLs and @mentions blanked, and CamelCase hashtags split (``#HoustonFlood`` ->
``Houston Flood``). ``Normalized.original_span`` turns a span of the normalised text back into offsets of the
text as stored, so the volunteer page can highlight what the post really says.
"""

import html
import re
from dataclasses import dataclass

_TOKEN_RE = re.compile(
    r"(?P<entity>&(?:[a-zA-Z]{2,8}|#\d{1,7}|#[xX][0-9a-fA-F]{1,6});)"
    r"|(?P<url>(?:https?://|www\.)\S+)"
    r"|(?P<mention>(?<![\w@])@\w+)"
    r"|(?P<hashtag>(?<![\w#&])#(?P<tag>\w+))"
)


@dataclass(frozen=True)
class Normalized:
    text: str
    offsets: tuple[int, ...]  # offsets[i]: index in the original of normalised char i; one extra at the end
    hashtag_ranges: tuple[tuple[int, int], ...]  # normalised [start, end) of text that came from hashtags

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of normalised [start, end)."""
        if end <= start:
            return self.offsets[start], self.offsets[start]
        return self.offsets[start], self.offsets[end - 1] + 1

    def in_hashtag(self, start: int, end: int) -> bool:
        return any(s <= start and end <= e for s, e in self.hashtag_ranges)


def _char_class(ch: str) -> str:
    if ch.isdigit():
        return "digit"
    if ch.isupper():
        return "upper"
    if ch.isalpha():
        return "lower"  # lowercase and caseless scripts alike
    return "other"


def split_hashtag(tag: str) -> list[tuple[int, str]]:
    """(offset in the tag, piece) for each word of a CamelCase hashtag: "NYCFlood" -> NYC, Flood;
    "ÁguaNaRua" -> Água, Na, Rua; "PuertoRico2017" -> Puerto, Rico, 2017. A lowercase tag stays whole."""
    starts = [0]
    for i in range(1, len(tag)):
        prev, cur = _char_class(tag[i - 1]), _char_class(tag[i])
        nxt = _char_class(tag[i + 1]) if i + 1 < len(tag) else ""
        if cur == "other" or prev == "other":
            if cur != prev:
                starts.append(i)
        elif (
            (prev == "lower" and cur == "upper")
            or (prev == "digit") != (cur == "digit")
            or (prev == "upper" and cur == "upper" and nxt == "lower")
        ):
            starts.append(i)
    # Scottish and Irish prefixes stay with their name: "FortMcMurray" -> Fort McMurray.
    starts = [s for n, s in enumerate(starts) if not (n and tag[starts[n - 1] : s] in ("Mc", "Mac"))]
    pieces = [(s, tag[s:e]) for s, e in zip(starts, [*starts[1:], len(tag)], strict=True)]
    return [(s, piece) for s, piece in pieces if piece.strip("_")]


def normalize(text: str, *, segment=None) -> Normalized:
    """``segment(tag)``, when given, cuts a hashtag that has no capitals to split on (``(offset, piece)`` pairs, or
    None to keep it whole): the recogniser cuts "keralafloods" around the place names it knows."""
    out: list[str] = []
    offsets: list[int] = []
    hashtags: list[tuple[int, int]] = []

    def emit(chars: str, origin: int) -> None:  # replacement text, every char mapped to ``origin``
        out.append(chars)
        offsets.extend([origin] * len(chars))

    def copy(start: int, end: int) -> None:  # untouched text, in one piece
        out.append(text[start:end])
        offsets.extend(range(start, end))

    position = 0
    for match in _TOKEN_RE.finditer(text):
        copy(position, match.start())
        if match.group("entity"):
            emit(html.unescape(match.group()), match.start())
        elif match.group("url") or match.group("mention"):
            emit(" ", match.start())
        else:
            tag_start = match.start("tag")
            begin = len(offsets)
            pieces = split_hashtag(match.group("tag"))
            if segment is not None and len(pieces) == 1:
                pieces = segment(pieces[0][1]) or pieces
            for n, (piece_offset, piece) in enumerate(pieces):
                if n:
                    emit(" ", tag_start + piece_offset)
                copy(tag_start + piece_offset, tag_start + piece_offset + len(piece))
            hashtags.append((begin, len(offsets)))
        position = match.end()
    copy(position, len(text))
    offsets.append(len(text))
    return Normalized(text="".join(out), offsets=tuple(offsets), hashtag_ranges=tuple(hashtags))
