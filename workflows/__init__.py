"""Coordination patterns as Temporal workflows. Pure orchestration: no I/O here.

Workflows call activities and child workflows by name (`core.contracts`), so importing
them loads no activity code; the workers register both under the same names.
"""

from workflows.agent_step import AgentStepWorkflow
from workflows.consensus import ConsensusWorkflow
from workflows.event_driven import EventDrivenWorkflow
from workflows.fan_out import FanOutBatchWorkflow
from workflows.pipeline import PipelineWorkflow
from workflows.retention import RetentionWorkflow
from workflows.saga import SagaWorkflow
from workflows.scatter_gather import ScatterGatherWorkflow
from workflows.supervisor import SupervisorWorkflow

PATTERN_WORKFLOWS = (
    PipelineWorkflow,
    ScatterGatherWorkflow,
    ConsensusWorkflow,
    SagaWorkflow,
    SupervisorWorkflow,
    EventDrivenWorkflow,
)
WORKFLOWS = (*PATTERN_WORKFLOWS, AgentStepWorkflow, FanOutBatchWorkflow, RetentionWorkflow)
