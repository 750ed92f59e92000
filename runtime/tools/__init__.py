"""Tools the model can call: built-ins that act in the sandbox, and client-side functions.

``base`` defines the seam (:class:`Tool`, :class:`ToolContext`, :class:`ToolOutput`); one module per
family (``shell``, ``python``, ``files``, ``browser``, ``plan``); ``toolset`` assembles what an agent
may use. A tool never crashes the run: bad arguments and failures become an ``is_error`` result.
"""
