"""Coordination patterns as Temporal workflows. Pure orchestration: no I/O here."""

from workflows.pipeline import PipelineWorkflow

WORKFLOWS = (PipelineWorkflow,)
WORKFLOW_BY_PATTERN = {"pipeline": PipelineWorkflow}
