"""Tokens of KSQL text, each with its line: identifiers, strings, numbers, operators."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdc_ods.ksql.errors import KsqlError


@dataclass(frozen=True)
class Token:
    kind: str  # IDENT QIDENT STRING NUMBER OP EOF
    text: str  # IDENT: upper-cased; QIDENT/STRING: unquoted content; OP/NUMBER: as written
    line: int
    start: int = 0  # offset in the script text

    def is_word(self, *words: str) -> bool:
        return self.kind == "IDENT" and self.text in words

    def is_op(self, *ops: str) -> bool:
        return self.kind == "OP" and self.text in ops


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>'(?:[^']|'')*')
  | (?P<qident>`(?:[^`]|``)*`)
  | (?P<dqident>"(?:[^"]|"")*")
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<op>->|:=|=>|<>|!=|<=|>=|\|\||[-+*/%=<>(),;.\[\]])
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos, line = 0, 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise KsqlError(f"unexpected character {text[pos]!r} (or an unterminated string)", line)
        kind, value = match.lastgroup, match.group()
        if kind == "string":
            tokens.append(Token("STRING", value[1:-1].replace("''", "'"), line, pos))
        elif kind == "qident":
            tokens.append(Token("QIDENT", value[1:-1].replace("``", "`"), line, pos))
        elif kind == "dqident":
            tokens.append(Token("QIDENT", value[1:-1].replace('""', '"'), line, pos))
        elif kind == "number":
            tokens.append(Token("NUMBER", value, line, pos))
        elif kind == "ident":
            tokens.append(Token("IDENT", value.upper(), line, pos))
        elif kind == "op":
            tokens.append(Token("OP", value, line, pos))
        elif kind == "comment" and value.startswith("/*") and not value.endswith("*/"):
            raise KsqlError("unterminated comment", line)
        line += value.count("\n")
        pos = match.end()
    tokens.append(Token("EOF", "", line, len(text)))
    return tokens
