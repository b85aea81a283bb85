"""The line of an error's text that says what went wrong, and a message's headline.

A framework's exception often opens with a line that only announces what follows, and buries
its cause. A TensorFlow graph error reads "Graph execution error:", then the stack where the
failing node was defined, and only then the node's message ("Input dims must be <= 5 and
>=1"), wrapped in "[[{{node Softmax}}]]" and "[Op:__inference_function_36]"; torch.compile's
reads "backend='inductor' raised:" and then the error. A failure card, a records table, the
terminal and the grouping by cause each show one line, and it must be that cause, with where
it happened.

:func:`raised_message` puts the cause first when an adapter raises (the exception's full text
follows, so nothing is lost); :func:`headline` finds it in any message, including the messages
of results written before, whose first line is the announcement.
"""

from __future__ import annotations

import re

# TensorFlow's decorations around a node's message: which function, which node, which op
_TENSORFLOW_DECORATION = re.compile(
    r"\{\{function_node [^{}]*\}\}\s*"  # {{function_node __inference_function_36}}
    r"|\s*\[\[\{\{node [^{}]*\}\}\]\]"  # [[{{node Softmax}}]]
    r"|\s*\[Op:[^\[\]]*\](?: name:(?: [^\s\[]\S*)?)?"  # [Op:Softmax] name: softmax
)
# TensorFlow's count of failing nodes, before one indented "(0) ..." line per node
_ROOT_ERRORS = re.compile(r"\d+ root error\(s\) found\.?")
_ROOT_ERROR = re.compile(r"\s*\(\d+\) ")
# "softmax raised AbortedError: " (an adapter's call) or "AbortedError: " (any other exception)
_RAISED = re.compile(r"(?:\S+ raised )?[A-Za-z_]\w*: ")
# where a message comes from, at the end of its text: "[torch softmax axis=1 float32]"
_LOCATION = re.compile(r"\s*(\[[^\[\]]*\])\s*$")


def _undecorated(line: str) -> str:
    return _TENSORFLOW_DECORATION.sub("", line).strip()


def _announces(said: str) -> bool:
    """Whether ``said`` (what an exception says on one line) only announces what follows:
    nothing, or a line that ends in a colon ("Graph execution error:")."""
    return not said or said.endswith(":")


def cause_line(text: str) -> str:
    """The line of an exception's ``text`` that says what went wrong, without TensorFlow's
    decorations: its first line; or, when that only announces what follows, the first line
    after it that is not part of a stack (indented, or a stack's header) and does not announce
    more. The first line when there is no such line."""
    lines = str(text).strip().splitlines()
    if not lines:
        return ""
    first = _undecorated(lines[0])
    if not _announces(first):
        return first
    for line in lines[1:]:
        root_error = _ROOT_ERROR.match(line)
        if line[:1].isspace() and not root_error:
            continue  # a stack frame, its code, or a decoration on a line of its own
        said = _undecorated(line[root_error.end() :] if root_error else line)
        if not _announces(said) and not _ROOT_ERRORS.fullmatch(said):
            return said
    return first


def raised_message(name: str, error: BaseException, where: str = "") -> str:
    """What ``name`` (an adapter's method, or "loading") raised, as a message: "softmax raised
    AbortedError: <the cause line> [where]"; then, when the exception says more than that
    line, its full text after a blank line."""
    text = str(error).strip()
    cause = cause_line(text)
    first = f"{name} raised {type(error).__name__}: {cause}".rstrip() + (f" {where}" if where else "")
    return first if text == cause else f"{first}\n\n{text}"


def headline(message: str | None) -> str:
    """``message`` in one line, for a card, a table cell or the terminal ("" for none): its
    first line; or, when that only announces what follows ("softmax raised AbortedError:
    Graph execution error:"), its prefix, the cause line of the exception's text, and the
    location that ends the message. Without TensorFlow's decorations, its spaces collapsed."""
    text = str(message or "").strip()
    first, _, rest = text.partition("\n")
    raised = _RAISED.match(first)
    prefix = raised.group(0) if raised else ""
    line = _undecorated(first)
    if _announces(_undecorated(first[len(prefix) :])) and rest.strip():
        said = _TENSORFLOW_DECORATION.sub("", text[len(prefix) :])
        location = _LOCATION.search(said)
        if location is not None:
            said = said[: location.start()]
        where = f" {location.group(1)}" if location is not None else ""
        line = f"{prefix}{cause_line(said)}{where}"
    return " ".join(line.split())
