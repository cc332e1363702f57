"""Coordinators see filtered images of their crises in the admin and restore them."""

import pytest
from django.urls import reverse

from classification.models import RelevanceLabel, RelevanceThreshold
from crawling.models import Media, Post

pytestmark = pytest.mark.django_db


@pytest.fixture
def filtered(people):
    post = Post.objects.create(crisis=people["crisis"], source=Post.Source.CSV, source_id="1", text="meme")
    return Media.objects.create(
        crisis=people["crisis"], post=post, stage=Media.Stage.IRRELEVANT, reject_reason="irrelevant: graphic"
    )


def test_coordinator_restores_a_filtered_image_and_it_becomes_a_label(client, people, filtered):
    people["coordinator"].is_staff = True
    people["coordinator"].save()
    client.force_login(people["coordinator"])
    url = reverse("admin:classification_filteredmedia_changelist")
    assert str(filtered.pk) in client.get(url).content.decode()
    client.post(url, {"action": "restore", "_selected_action": [filtered.pk]})
    filtered.refresh_from_db()
    assert filtered.stage != Media.Stage.IRRELEVANT
    assert RelevanceLabel.objects.get(media=filtered).source == RelevanceLabel.Source.RESTORE


def test_coordinators_see_the_training_labels_of_their_crisis_only(client, people, filtered):
    label = RelevanceLabel.objects.create(media=filtered, relevant=True, source=RelevanceLabel.Source.RESTORE)
    url = reverse("admin:classification_relevancelabel_changelist")
    for coordinator, sees in ((people["coordinator"], True), (people["other_coordinator"], False)):
        coordinator.is_staff = True
        coordinator.save()
        client.force_login(coordinator)
        response = client.get(url)
        assert response.status_code == 200
        assert (
            reverse("admin:classification_relevancelabel_change", args=[label.pk]) in response.content.decode()
        ) == sees


def test_other_coordinators_do_not_see_it(client, people, filtered):
    people["other_coordinator"].is_staff = True
    people["other_coordinator"].save()
    client.force_login(people["other_coordinator"])
    response = client.get(reverse("admin:classification_filteredmedia_changelist"))
    assert f"Image {filtered.pk} " not in response.content.decode()


@pytest.fixture
def held_back(people):
    post = Post.objects.create(crisis=people["crisis"], source=Post.Source.CSV, source_id="2", text="a screenshot")
    return Media.objects.create(
        crisis=people["crisis"],
        post=post,
        stage=Media.Stage.PROBABLY_IRRELEVANT,
        reject_reason="probably irrelevant: classifier",
    )


def staff_login(client, user):
    user.is_staff = True
    user.save()
    client.force_login(user)


def test_one_click_restores_a_held_back_image_and_it_becomes_a_label(client, people, held_back):
    staff_login(client, people["coordinator"])
    RelevanceThreshold.objects.create(crisis=people["crisis"], threshold=0.8, relevant_held_back=0.02)
    page = client.get(reverse("admin:classification_heldbackmedia_changelist")).content.decode()
    assert "hold back at p &gt;= 0.800" in page
    restore_url = reverse("admin:classification_heldbackmedia_restore_one")
    assert f'name="media_id" value="{held_back.pk}" formaction="{restore_url}"' in page
    response = client.post(restore_url, {"media_id": held_back.pk})
    assert response.status_code == 302
    held_back.refresh_from_db()
    assert held_back.stage == Media.Stage.RELEVANT
    assert RelevanceLabel.objects.get(media=held_back).source == RelevanceLabel.Source.RESTORE


def test_another_crisis_coordinator_cannot_restore_a_held_back_image(client, people, held_back):
    staff_login(client, people["other_coordinator"])
    client.post(reverse("admin:classification_heldbackmedia_restore_one"), {"media_id": held_back.pk})
    held_back.refresh_from_db()
    assert held_back.stage == Media.Stage.PROBABLY_IRRELEVANT and not RelevanceLabel.objects.exists()


def test_the_restore_view_refuses_a_get(client, people, held_back):
    staff_login(client, people["coordinator"])
    response = client.get(reverse("admin:classification_heldbackmedia_restore_one"), {"media_id": held_back.pk})
    assert response.status_code == 403
    held_back.refresh_from_db()
    assert held_back.stage == Media.Stage.PROBABLY_IRRELEVANT
