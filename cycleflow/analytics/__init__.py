"""analytics stage of the cycleflow data flow: simulate histories, report on audit logs, impact.

``simulate`` drives deals through the real engine; ``report`` computes the periodic
evaluation figures in one streaming pass and ``html`` renders them; ``impact`` compares
two policies over the same deals. See docs/evaluation.md.
"""
