"""The context planner: what exactly the model sees, how many tokens that is, and what was cut to fit.

Pure: no I/O, no Textual, no torch. The meter and the inspector only display what this computes.
"""

from tui.choices import POLICIES, Policy
from tui.context.model import (
    ROLES,
    SENT,
    ContextOverflow,
    ContextPlan,
    Message,
    Role,
    Segment,
    SegmentKind,
    Status,
    SummaryJob,
)
from tui.context.planner import DEFAULT_TRIM_TO, Planner, PlanOptions, plan_context

__all__ = [
    "DEFAULT_TRIM_TO",
    "POLICIES",
    "ROLES",
    "SENT",
    "ContextOverflow",
    "ContextPlan",
    "Message",
    "PlanOptions",
    "Planner",
    "Policy",
    "Role",
    "Segment",
    "SegmentKind",
    "Status",
    "SummaryJob",
    "plan_context",
]
