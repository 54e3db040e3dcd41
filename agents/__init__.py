"""Judge graphs (LangGraph): route → rubric → inspect ⇄ invoke_tools → score → aggregate."""
