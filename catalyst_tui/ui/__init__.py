"""The Textual dashboard (the only package that imports Textual).

Entry points: :func:`catalyst_tui.ui.app.run_dashboard` and :class:`catalyst_tui.ui.app.CatalystApp`.
"""
