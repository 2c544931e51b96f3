"""`newsbot chat`: the conversation loop in the terminal.

`run_chat(engine, console, err)` reads questions until /quit or end of input and prints each
answer as `newsbot ask` does; follow-ups keep the conversation's context, /forget clears it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from bot import rendering

if TYPE_CHECKING:
    from retrieval.conversation import ConversationEngine

CONVERSATION_ID = "chat"


async def run_chat(engine: ConversationEngine, console: Console, err: Console) -> None:
    """Talk with the user on `console` until /quit, /exit, Ctrl-D or Ctrl-C; returns then. A
    retrieval failure is one red line on `err` and the chat goes on; nothing else is caught."""
    from retrieval.errors import RetrievalError

    console.print("Ask about the news. [dim]/forget clears the memory, /quit (or Ctrl-D) leaves.[/dim]")
    while True:
        try:
            # Waiting for the user holds the loop, and nothing else runs on it here.
            question = console.input("[bold green]you>[/bold green] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if not question:
            continue
        if question in ("/quit", "/exit"):
            return
        if question == "/forget":
            await engine.forget(CONVERSATION_ID)
            console.print("[dim]forgotten[/dim]")
            continue
        try:
            answer = await engine.ask(CONVERSATION_ID, question)
        except RetrievalError as e:
            err.print(f"[red]{escape(str(e))}[/red]", highlight=False, soft_wrap=True)
            continue
        if answer.standalone_question and answer.standalone_question != question:
            console.print(f"[dim](searched for: {answer.standalone_question})[/dim]", highlight=False)
        rendering.print_answer(console, answer)
