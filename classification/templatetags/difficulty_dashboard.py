"""The coordinator dashboard's difficulty estimator panel: which version scores the queue, how good it measured,
and the crisis's version history with each promotion decision (rendered on the page, from the database)."""

from django import template

from classification.difficulty_selectors import difficulty_dashboard

register = template.Library()


@register.inclusion_tag("classification/difficulty_dashboard.html")
def difficulty_panel(crisis) -> dict:
    return {"difficulty": difficulty_dashboard(crisis_id=crisis.pk), "crisis": crisis}
