"""Token kinds of the PromQL lexer and how Prometheus names them in error messages."""

from __future__ import annotations

import enum

from .gostr import go_quote, go_quote_prefix

__all__ = ["KEYWORDS", "Tok", "Token", "describe"]

# Token kinds, numbered the way goyacc numbers upstream's %token declarations
# (from 57346, in declaration order).  The number leaks into a few messages
# ("<Item 57372>") for kinds that have no printable name, so it must match.


class Tok(enum.IntEnum):
    """Kinds of lexer tokens."""

    EQL = 57346
    BLANK = 57347
    COLON = 57348
    COMMA = 57349
    COMMENT = 57350
    DURATION = 57351
    EOF = 57352
    ERROR = 57353
    IDENTIFIER = 57354
    LEFT_BRACE = 57355
    LEFT_BRACKET = 57356
    LEFT_PAREN = 57357
    OPEN_HIST = 57358
    CLOSE_HIST = 57359
    METRIC_IDENTIFIER = 57360
    NUMBER = 57361
    RIGHT_BRACE = 57362
    RIGHT_BRACKET = 57363
    RIGHT_PAREN = 57364
    SEMICOLON = 57365
    SPACE = 57366
    STRING = 57367
    TIMES = 57368
    _HIST_DESC_START = 57369
    SUM_DESC = 57370
    COUNT_DESC = 57371
    SCHEMA_DESC = 57372
    OFFSET_DESC = 57373
    NEGATIVE_OFFSET_DESC = 57374
    BUCKETS_DESC = 57375
    NEGATIVE_BUCKETS_DESC = 57376
    ZERO_BUCKET_DESC = 57377
    ZERO_BUCKET_WIDTH_DESC = 57378
    CUSTOM_VALUES_DESC = 57379
    COUNTER_RESET_HINT_DESC = 57380
    _HIST_DESC_END = 57381
    _OPERATORS_START = 57382
    ADD = 57383
    DIV = 57384
    EQLC = 57385
    EQL_REGEX = 57386
    GTE = 57387
    GTR = 57388
    TRIM_UPPER = 57389
    TRIM_LOWER = 57390
    LAND = 57391
    LOR = 57392
    LSS = 57393
    LTE = 57394
    LUNLESS = 57395
    MOD = 57396
    MUL = 57397
    NEQ = 57398
    NEQ_REGEX = 57399
    POW = 57400
    SUB = 57401
    AT = 57402
    ATAN2 = 57403
    _OPERATORS_END = 57404
    _AGGREGATORS_START = 57405
    AVG = 57406
    BOTTOMK = 57407
    COUNT = 57408
    COUNT_VALUES = 57409
    GROUP = 57410
    MAX = 57411
    MIN = 57412
    QUANTILE = 57413
    STDDEV = 57414
    STDVAR = 57415
    SUM = 57416
    TOPK = 57417
    LIMITK = 57418
    LIMIT_RATIO = 57419
    _AGGREGATORS_END = 57420
    _KEYWORDS_START = 57421
    BOOL = 57422
    BY = 57423
    GROUP_LEFT = 57424
    GROUP_RIGHT = 57425
    FILL = 57426
    FILL_LEFT = 57427
    FILL_RIGHT = 57428
    IGNORING = 57429
    OFFSET = 57430
    SMOOTHED = 57431
    ANCHORED = 57432
    ON = 57433
    WITHOUT = 57434
    _KEYWORDS_END = 57435
    _PREPROCESSORS_START = 57436
    START = 57437
    END = 57438
    STEP = 57439
    RANGE = 57440
    MAX_OF = 57441
    MIN_OF = 57442
    _PREPROCESSORS_END = 57443
    _HINTS_START = 57444
    UNKNOWN_COUNTER_RESET = 57445
    COUNTER_RESET = 57446
    NOT_COUNTER_RESET = 57447
    GAUGE_TYPE = 57448
    _HINTS_END = 57449


def _between(kind: Tok, low: str, high: str) -> bool:
    return Tok[low] < kind < Tok[high]


def is_operator(kind: Tok) -> bool:
    return _between(kind, "_OPERATORS_START", "_OPERATORS_END")


def is_aggregator(kind: Tok) -> bool:
    return _between(kind, "_AGGREGATORS_START", "_AGGREGATORS_END")


def is_keyword(kind: Tok) -> bool:
    return _between(kind, "_KEYWORDS_START", "_KEYWORDS_END")


# Words the lexer turns into keyword tokens, matched case-insensitively.
KEYWORDS: dict[str, Tok] = {
    "and": Tok.LAND,
    "or": Tok.LOR,
    "unless": Tok.LUNLESS,
    "atan2": Tok.ATAN2,
    "sum": Tok.SUM,
    "avg": Tok.AVG,
    "count": Tok.COUNT,
    "min": Tok.MIN,
    "max": Tok.MAX,
    "group": Tok.GROUP,
    "stddev": Tok.STDDEV,
    "stdvar": Tok.STDVAR,
    "topk": Tok.TOPK,
    "bottomk": Tok.BOTTOMK,
    "count_values": Tok.COUNT_VALUES,
    "quantile": Tok.QUANTILE,
    "limitk": Tok.LIMITK,
    "limit_ratio": Tok.LIMIT_RATIO,
    "offset": Tok.OFFSET,
    "smoothed": Tok.SMOOTHED,
    "anchored": Tok.ANCHORED,
    "by": Tok.BY,
    "without": Tok.WITHOUT,
    "on": Tok.ON,
    "ignoring": Tok.IGNORING,
    "group_left": Tok.GROUP_LEFT,
    "group_right": Tok.GROUP_RIGHT,
    "fill": Tok.FILL,
    "fill_left": Tok.FILL_LEFT,
    "fill_right": Tok.FILL_RIGHT,
    "bool": Tok.BOOL,
    "start": Tok.START,
    "end": Tok.END,
    "step": Tok.STEP,
    "range": Tok.RANGE,
    "max_of": Tok.MAX_OF,
    "min_of": Tok.MIN_OF,
    # Inf and NaN are number literals spelled as words.
    "inf": Tok.NUMBER,
    "nan": Tok.NUMBER,
}

# The canonical spelling of each kind, as Prometheus's ItemTypeStr has it.
SPELLING: dict[Tok, str] = {
    Tok.OPEN_HIST: "{{",
    Tok.CLOSE_HIST: "}}",
    Tok.LEFT_PAREN: "(",
    Tok.RIGHT_PAREN: ")",
    Tok.LEFT_BRACE: "{",
    Tok.RIGHT_BRACE: "}",
    Tok.LEFT_BRACKET: "[",
    Tok.RIGHT_BRACKET: "]",
    Tok.COMMA: ",",
    Tok.EQL: "=",
    Tok.COLON: ":",
    Tok.SEMICOLON: ";",
    Tok.BLANK: "_",
    Tok.TIMES: "x",
    Tok.SPACE: "<space>",
    Tok.SUB: "-",
    Tok.ADD: "+",
    Tok.MUL: "*",
    Tok.MOD: "%",
    Tok.DIV: "/",
    Tok.EQLC: "==",
    Tok.NEQ: "!=",
    Tok.LTE: "<=",
    Tok.LSS: "<",
    Tok.GTE: ">=",
    Tok.GTR: ">",
    Tok.TRIM_UPPER: "</",
    Tok.TRIM_LOWER: ">/",
    Tok.EQL_REGEX: "=~",
    Tok.NEQ_REGEX: "!~",
    Tok.POW: "^",
    Tok.AT: "@",
}
SPELLING.update({kind: word for word, kind in KEYWORDS.items() if kind is not Tok.NUMBER})

_KIND_NAMES = {
    Tok.ERROR: "error",
    Tok.EOF: "end of input",
    Tok.COMMENT: "comment",
    Tok.IDENTIFIER: "identifier",
    Tok.METRIC_IDENTIFIER: "metric identifier",
    Tok.STRING: "string",
    Tok.NUMBER: "number",
    Tok.DURATION: "duration",
}


class Token:
    """One lexed item: its kind, start offset and source text (or error message)."""

    __slots__ = ("kind", "pos", "val")

    def __init__(self, kind: Tok, pos: int, val: str) -> None:
        self.kind = kind
        self.pos = pos
        self.val = val

    @property
    def end(self) -> int:
        return self.pos + len(self.val)

    def __repr__(self) -> str:
        return f"Token({self.kind.name}, {self.pos}, {self.val!r})"


def _item_string(tok: Token) -> str:
    # Prometheus's Item.String().
    kind = tok.kind
    if kind is Tok.EOF:
        return "EOF"
    if kind is Tok.ERROR:
        return tok.val
    if kind in (Tok.IDENTIFIER, Tok.METRIC_IDENTIFIER):
        return go_quote(tok.val)
    if is_keyword(kind):
        return f"<{tok.val}>"
    if is_operator(kind):
        return f"<op:{tok.val}>"
    if is_aggregator(kind):
        return f"<aggr:{tok.val}>"
    # Go measures the 10 in bytes here but truncates to 10 runes when quoting.
    if len(tok.val.encode("utf-8", "surrogateescape")) > 10:
        return go_quote_prefix(tok.val, 10) + "..."
    return go_quote(tok.val)


def describe(tok: Token) -> str:
    """How an "unexpected ..." message names ``tok`` (Prometheus's Item.desc)."""
    if tok.kind in SPELLING:
        return _item_string(tok)
    if tok.kind is Tok.EOF:
        return "end of input"
    kind_name = _KIND_NAMES.get(tok.kind)
    if kind_name is None:
        # Kinds without a printable name show goyacc's token number.
        kind_name = go_quote(f"<Item {int(tok.kind)}>")
    return f"{kind_name} {_item_string(tok)}"
