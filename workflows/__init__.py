"""Coordination patterns as Temporal workflows. Pure orchestration: no I/O here."""

from typing import Any

from workflows.agent_step import AgentStepWorkflow
from workflows.consensus import ConsensusWorkflow
from workflows.event_driven import EventDrivenWorkflow
from workflows.pipeline import PipelineWorkflow
from workflows.saga import SagaWorkflow
from workflows.scatter_gather import ScatterGatherWorkflow
from workflows.supervisor import SupervisorWorkflow

WORKFLOW_BY_PATTERN: dict[str, Any] = {
    "pipeline": PipelineWorkflow,
    "scatter-gather": ScatterGatherWorkflow,
    "consensus": ConsensusWorkflow,
    "saga": SagaWorkflow,
    "supervisor": SupervisorWorkflow,
    "event-driven": EventDrivenWorkflow,
}
WORKFLOWS = (*WORKFLOW_BY_PATTERN.values(), AgentStepWorkflow)
