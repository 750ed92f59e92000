"""The agent loop: model turn → tool calls → results → next turn, with budgets and cancellation.

``loop`` runs it over a sandbox and a model, ``history`` rebuilds the model's conversation from
the steps (the single source of truth), ``events`` is what the loop tells its sink, ``prompt``
writes the system instruction, ``session`` prepares a sandbox for an agent and runs it.
"""
