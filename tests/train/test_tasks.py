"""Task plug-ins: losses, running scores and evaluation metrics against independent computations.

Reference numbers come from hand arithmetic on tiny tensors, scikit-learn
(precision/recall/F1, ROC AUC, average precision) and the FCN formulas
(Long, Shelhamer & Darrell 2015, §5) worked out on a 4-class confusion matrix.
"""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import (
    average_precision_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from sklearn.metrics import confusion_matrix as sk_confusion

from cnnzoo.train.tasks import IGNORE_INDEX, TASKS, TaskContext, TaskError, build_task

CPU = torch.device("cpu")


def task(name, k, **kw):
    return build_task(name, TaskContext(num_classes=k, **kw))


def one_hot_logits(labels, k):
    """Logits whose arg-max along dim 1 is ``labels`` (any shape)."""
    return F.one_hot(labels.long(), k).movedim(-1, 1).float() * 5.0


def test_registry_and_score_keys():
    assert {"classification", "multilabel", "segmentation"} <= set(TASKS)
    keys = {n: task(n, 3).score_key for n in ("classification", "multilabel", "segmentation")}
    assert keys == {"classification": "acc", "multilabel": "f1", "segmentation": "miou"}


# -- segmentation: the four FCN metrics, label 255 ----------------------------------------------------


def test_fcn_metrics_by_hand_with_ignored_pixels():
    # n_ij (true i, predicted j) over 8 labelled pixels; class 2 is predicted once and never true,
    # class 3 appears nowhere; 4 more pixels carry 255 and predictions that must not count.
    pairs = [(0, 0)] * 3 + [(0, 1)] + [(1, 0)] + [(1, 1)] * 2 + [(1, 2)]
    ignored = [(IGNORE_INDEX, 1), (IGNORE_INDEX, 2), (IGNORE_INDEX, 3), (IGNORE_INDEX, 3)]
    truth = torch.tensor([t for t, _ in pairs + ignored]).reshape(1, 3, 4)
    pred = torch.tensor([p for _, p in pairs + ignored]).reshape(1, 3, 4)
    meter = task("segmentation", 4).eval_meter(CPU, detailed=True)
    # two batches, the second one empty of labels, to check the counts accumulate
    meter.update(one_hot_logits(pred, 4), truth)
    meter.update(one_hot_logits(pred, 4), torch.full_like(truth, IGNORE_INDEX))
    r = meter.compute()
    # t = [4, 4, 0, 0]; n_ii = [3, 2, 0, 0]; column sums [4, 3, 1, 0]
    assert r["acc"] == pytest.approx(5 / 8)
    assert r["mean_acc"] == pytest.approx((3 / 4 + 2 / 4) / 2)  # classes without pixels left out
    iou = [3 / (4 + 4 - 3), 2 / (4 + 3 - 2), 0 / (0 + 1 - 0)]
    assert r["miou"] == pytest.approx(sum(iou) / 3)  # class 3: 0/0, left out
    assert r["fwiou"] == pytest.approx((4 * iou[0] + 4 * iou[1]) / 8)
    assert r["per_class"]["iou"][:3] == pytest.approx(iou) and r["per_class"]["iou"][3] is None
    assert r["per_class"]["dice"][:3] == pytest.approx([6 / 8, 4 / 7, 0.0]) and r["per_class"]["dice"][3] is None
    assert r["confusion"] == [[3, 1, 0, 0], [1, 2, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    json.dumps(r, allow_nan=False)


def test_segmentation_scores_are_resized_to_the_label_map():
    truth = torch.zeros(1, 8, 8, dtype=torch.long)
    truth[:, :, 4:] = 1
    coarse = one_hot_logits(torch.tensor([[[0, 1], [0, 1]]]), 2)  # 2×2 scores for an 8×8 map
    meter = task("segmentation", 2).eval_meter(CPU)
    meter.update(coarse, truth)
    assert meter.compute()["acc"] == 1.0
    train = task("segmentation", 2).train_meter(CPU)
    train.update(coarse, truth.masked_fill(truth == 1, IGNORE_INDEX))
    assert train.compute() == {"acc": 1.0}


def test_segmentation_loss_resizes_and_ignores_255():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 4)
    truth = torch.randint(0, 3, (2, 8, 8))
    truth[0, :2] = IGNORE_INDEX
    up = F.interpolate(logits, size=(8, 8), mode="bilinear", align_corners=False)
    logp = up.log_softmax(1).permute(0, 2, 3, 1).reshape(-1, 3)
    flat = truth.reshape(-1)
    keep = flat != IGNORE_INDEX
    expected = -logp[keep].gather(1, flat[keep, None]).mean()
    got = task("segmentation", 3).loss_fn()(logits, truth)
    torch.testing.assert_close(got, expected)


# -- classification: sklearn as the reference --------------------------------------------------------


@pytest.fixture
def scored():
    g = torch.Generator().manual_seed(1)
    k, n = 7, 90
    y = torch.randint(0, k - 1, (n,), generator=g)  # class 6 has no sample
    z = torch.randn(n, k, generator=g) + 1.5 * F.one_hot(y, k)
    return z, y, k


def test_classification_detailed_against_sklearn(scored):
    z, y, k = scored
    meter = task("classification", k).eval_meter(CPU, detailed=True)
    meter.update(z[:50], y[:50])
    meter.update(z[50:], y[50:])
    r = meter.compute()
    pred, p = z.argmax(1).numpy(), z.float().softmax(1).numpy()
    yn = y.numpy()
    assert r["acc"] == pytest.approx((pred == yn).mean())
    top5 = np.argsort(-z.numpy(), 1)[:, :5]
    assert r["acc_top5"] == pytest.approx((top5 == yn[:, None]).any(1).mean())
    assert r["confusion"] == sk_confusion(yn, pred, labels=range(k)).tolist()
    P, R, F1, S = precision_recall_fscore_support(yn, pred, labels=range(k), zero_division=0)
    pc = r["per_class"]
    assert pc["precision"] == pytest.approx(P.tolist()) and pc["recall"] == pytest.approx(R.tolist())
    assert pc["f1"] == pytest.approx(F1.tolist()) and pc["support"] == S.tolist()
    for avg in ("macro", "micro"):
        ap_, ar_, af_, _ = precision_recall_fscore_support(yn, pred, labels=range(k), average=avg, zero_division=0)
        assert (r[f"precision_{avg}"], r[f"recall_{avg}"], r[f"f1_{avg}"]) == pytest.approx((ap_, ar_, af_))
    auc = [roc_auc_score(yn == c, p[:, c]) for c in range(k - 1)]
    ap = [average_precision_score(yn == c, p[:, c]) for c in range(k - 1)]
    assert pc["auc"][: k - 1] == pytest.approx(auc, rel=1e-6) and pc["auc"][k - 1] is None
    assert pc["ap"][: k - 1] == pytest.approx(ap, rel=1e-6) and pc["ap"][k - 1] is None
    assert r["auc_macro"] == pytest.approx(np.mean(auc), rel=1e-6)
    assert r["ap_macro"] == pytest.approx(np.mean(ap), rel=1e-6)
    assert len(r["roc"]["fpr"][0]) == len(r["roc"]["tpr"][0]) > 2 and r["roc"]["fpr"][k - 1] == []
    json.dumps(r, allow_nan=False)


def test_classification_per_epoch_metrics_are_scalars_only(scored):
    z, y, k = scored
    meter = task("classification", k).eval_meter(CPU)
    meter.update(z, y)
    r = meter.compute()
    assert set(r) == {"acc", "acc_top5"}
    train = task("classification", k).train_meter(CPU)
    train.update((z[:40], z[:40] * 0), y[:40])  # auxiliary outputs do not count
    resumed = task("classification", k).train_meter(CPU)
    resumed.load_state(train.state())
    resumed.update(z[40:], y[40:])
    assert resumed.compute()["acc"] == pytest.approx(r["acc"])


def test_aux_outputs_add_their_weighted_loss():
    torch.manual_seed(0)
    main, aux1, aux2 = torch.randn(3, 6, 4).unbind(0)
    y = torch.randint(0, 4, (6,))

    def ce(z):
        return -z.log_softmax(1).gather(1, y[:, None]).mean()

    loss = task("classification", 4, aux_weight=0.25).loss_fn()
    torch.testing.assert_close(loss((main, aux1, aux2), y), ce(main) + 0.25 * (ce(aux1) + ce(aux2)))
    torch.testing.assert_close(loss(main, y), ce(main))  # eval mode: one output
    smooth = task("classification", 4, label_smoothing=0.1).loss_fn()
    q = 0.9 * F.one_hot(y, 4) + 0.1 / 4
    torch.testing.assert_close(smooth(main, y), -(q * main.log_softmax(1)).sum(1).mean())


# -- multi-label ---------------------------------------------------------------------------------------


def test_multilabel_against_sklearn():
    g = torch.Generator().manual_seed(2)
    n, k = 40, 5
    y = (torch.rand(n, k, generator=g) < 0.35).float()
    y[:, 4] = 0  # a label nobody has: precision/recall 0, no AP
    z = torch.randn(n, k, generator=g) + 2 * y - 1
    meter = task("multilabel", k, threshold=0.6).eval_meter(CPU, detailed=True)
    meter.update(z, y)
    r = meter.compute()
    pred = (z.sigmoid() > 0.6).numpy().astype(int)
    yn = y.numpy().astype(int)
    assert r["acc"] == pytest.approx((pred == yn).mean())
    P, R, F1, _ = precision_recall_fscore_support(yn, pred, average=None, zero_division=0)
    assert r["per_class"]["precision"] == pytest.approx(P.tolist()) and r["per_class"]["f1"] == pytest.approx(F1.tolist())
    assert (r["precision"], r["recall"], r["f1"]) == pytest.approx((P.mean(), R.mean(), F1.mean()))
    assert r["f1_micro"] == pytest.approx(precision_recall_fscore_support(yn, pred, average="micro", zero_division=0)[2])
    ap = [average_precision_score(yn[:, c], z.sigmoid().numpy()[:, c]) for c in range(4)]
    assert r["per_class"]["ap"][:4] == pytest.approx(ap, rel=1e-6) and r["per_class"]["ap"][4] is None
    assert r["ap_macro"] == pytest.approx(np.mean(ap), rel=1e-6)
    train = task("multilabel", k, threshold=0.6).train_meter(CPU)
    train.update(z, y)
    assert train.compute()["acc"] == pytest.approx(r["acc"])
    json.dumps(r, allow_nan=False)


def test_multilabel_loss_is_bce():
    z, y = torch.randn(4, 3), torch.tensor([[1.0, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    p = z.sigmoid()
    expected = -(y * p.log() + (1 - y) * (1 - p).log()).mean()
    torch.testing.assert_close(task("multilabel", 3).loss_fn()(z, y), expected)


# -- recipes that do not fit: one-line ValueErrors --------------------------------------------------------


@pytest.mark.parametrize(
    "name,loss,needle",
    [
        ("classification", "bce", "multi-label"),
        ("classification", "l2", "unknown"),
        ("multilabel", "cross_entropy", "bce"),
    ],
)
def test_losses_that_do_not_fit_are_refused(name, loss, needle):
    with pytest.raises(TaskError) as e:
        task(name, 3, loss=loss)
    assert isinstance(e.value, ValueError) and needle in str(e.value) and loss in str(e.value) and "\n" not in str(e.value)


def test_resolved_loss_names():
    assert task("classification", 3).loss_name == "cross_entropy"
    assert task("classification", 3, loss="focal").loss_name == "focal"
    assert task("multilabel", 3).loss_name == "bce"
    assert task("segmentation", 3).loss_name == "cross_entropy"


def test_unknown_task_and_augmentation_that_cannot_move_masks_are_refused():
    with pytest.raises(ValueError, match="detection2.*expected one of"):
        task("detection2", 3)
    from cnnzoo.data.augment import build_augment

    seg = task("segmentation", 3)
    cifar = build_augment("cifar", torch.Generator(), in_chans=1, image_size=(8, 8))  # kornia's crop moves pixels only
    with pytest.raises(TaskError, match="--aug"):
        seg.augment_batch(cifar, torch.zeros(1, 1, 8, 8), torch.zeros(1, 8, 8, dtype=torch.long))
    x, y = task("classification", 3).augment_batch(lambda x: x + 1, torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]))
    assert float(x.mean()) == 1.0 and y.tolist() == [0, 1]


def test_headline_and_table_come_from_the_task(scored):
    z, y, k = scored
    t = task("classification", k, class_names=[f"c{i}" for i in range(k)])
    meter = t.eval_meter(CPU, detailed=True)
    meter.update(z, y)
    r = meter.compute()
    cols, rows = t.per_class_table(r)
    assert cols[:4] == ["class", "precision", "recall", "F1"] and len(rows) == k
    assert rows[6][0] == "c6" and rows[6][4] == "–"  # no sample of class 6: no AUC
    assert f"{r['acc']:.2%}" in t.headline(r)
    assert not math.isnan(r["f1_macro"])
