"""The scrolling conversation: one MessageView per turn, plus a marker where the model's context starts."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui.app.widgets.message_view import MessageView
from tui.chat.conversation import Turn

NEAR_BOTTOM_LINES = 3


class ChatPane(VerticalScroll):
    can_focus = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.markdown = False
        self._marker = Static(Content("── context starts here ──"), classes="context-marker")
        self._marker.display = False

    def on_mount(self) -> None:
        self.mount(self._marker)

    @property
    def views(self) -> list[MessageView]:
        return list(self.query_children(MessageView))

    def near_bottom(self) -> bool:
        return self.max_scroll_y - self.scroll_y <= NEAR_BOTTOM_LINES

    async def add_turn(self, turn: Turn) -> MessageView:
        follow = self.near_bottom()
        view = MessageView(turn, markdown=self.markdown)
        await self.mount(view)
        if follow:
            self.scroll_end(animate=False)
        return view

    async def reset(self, turns: list[Turn]) -> None:
        """Show a different conversation (new, resumed, or after an edit)."""
        await self.remove_children(MessageView)
        self._marker.display = False
        if turns:
            await self.mount_all([MessageView(t, markdown=self.markdown) for t in turns])
        self.scroll_end(animate=False)

    async def remove_from(self, index: int) -> None:
        views = self.views
        for view in views[index:]:
            await view.remove()

    def apply_statuses(self, statuses: dict[int, str]) -> None:
        """Dim the messages the plan leaves out; the marker goes where the context resumes after a gap."""
        views = self.views
        for index, view in enumerate(views):
            view.set_context_status(statuses.get(index, "kept"))
        resume = next(
            (
                i
                for i in range(1, len(views))
                if statuses.get(i, "kept") != "dropped" and statuses.get(i - 1, "kept") == "dropped"
            ),
            None,
        )
        if resume is None:
            self._marker.display = False
        else:
            self._marker.display = True
            self.move_child(self._marker, before=views[resume])
