"""Device-resident batches: every image once per epoch, seeded orders, resizing like torchvision, flips."""

from pathlib import Path

import pytest
import torch

from nin_book.batches import FASHION_MNIST_MEAN, FASHION_MNIST_STD, DeviceBatches, prepare_images

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_debian = pytest.mark.skipif(not (DEBIAN / "train-images-idx3-ubyte.gz").exists(),
                                  reason="Debian's dataset-fashion-mnist is not installed (.ci/run installs it)")


def labelled_images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image i is filled with the value i (mod 256) except one marked corner pixel; its label is i mod 10."""
    images = (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1).expand(n, 28, 28).clone()
    images[:, 0, 0] = 255  # a left-right asymmetry, so a flip is visible
    return images, torch.arange(n) % 10


def pixel_value(x: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation of batch ``x`` and read back each image's fill value (pixel 5, 5)."""
    return (x[:, 0, 5, 5] * FASHION_MNIST_STD + FASHION_MNIST_MEAN).mul(255).round().long()


def test_prepare_images_normalises_and_keeps_28():
    images = torch.tensor([[0, 255]], dtype=torch.uint8).expand(28, 2).reshape(1, 28, 2).repeat(1, 1, 14)
    x = prepare_images(images)
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert x.min().item() == pytest.approx(-FASHION_MNIST_MEAN / FASHION_MNIST_STD)
    assert x.max().item() == pytest.approx((1 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD)


def test_resize_matches_torchvision_resize_to_rounding():
    from PIL import Image
    from torchvision import transforms

    torch.manual_seed(0)
    img = torch.randint(0, 256, (28, 28), dtype=torch.uint8)
    classic = transforms.ToTensor()(transforms.Resize(96)(Image.fromarray(img.numpy(), mode="L")))
    ours = prepare_images(img[None], 96)[0] * FASHION_MNIST_STD + FASHION_MNIST_MEAN
    assert ours.shape == classic.shape == (1, 96, 96)
    assert (ours - classic).abs().max().item() <= 1 / 255 + 1e-6  # PIL rounds to whole grey levels


def test_channels_last_layout():
    x = prepare_images(torch.zeros(4, 28, 28, dtype=torch.uint8), 32, channels_last=True)
    assert x.is_contiguous(memory_format=torch.channels_last) and x.shape == (4, 1, 32, 32)


def test_each_epoch_sees_every_image_once_with_its_label():
    images, labels = labelled_images(250)
    batches = DeviceBatches(images, labels, batch_size=64, shuffle=True, seed=3)
    assert len(batches) == 4 and batches.num_images == 250
    seen = []
    for x, y in batches:
        values = pixel_value(x)
        assert torch.equal(values % 10, y)  # labels travel with their images
        seen.append(values)
    assert sorted(torch.cat(seen).tolist()) == list(range(250))


def order(batches: DeviceBatches, epoch: int) -> list[int]:
    batches.set_epoch(epoch)
    return torch.cat([pixel_value(x) for x, _ in batches]).tolist()


def test_shuffle_is_seeded_per_epoch():
    images, labels = labelled_images(200)
    a = DeviceBatches(images, labels, batch_size=50, shuffle=True, seed=0)
    b = DeviceBatches(images, labels, batch_size=50, shuffle=True, seed=0)
    c = DeviceBatches(images, labels, batch_size=50, shuffle=True, seed=1)
    assert order(a, 0) == order(b, 0)  # same seed and epoch: same order (what resuming relies on)
    assert order(a, 0) != order(a, 1)  # a new order every epoch
    assert order(a, 0) != order(c, 0)
    assert order(DeviceBatches(images, labels, batch_size=50), 0) == list(range(200))  # no shuffle: file order


def test_limit_and_drop_last():
    images, labels = labelled_images(300)
    batches = DeviceBatches(images, labels, batch_size=64, limit=200, drop_last=True)
    assert len(batches) == 3 and batches.num_images == 192
    assert order(batches, 0) == list(range(192))


def test_flip_mirrors_some_images_and_leaves_the_rest():
    images, labels = labelled_images(256)
    x, _ = next(iter(DeviceBatches(images, labels, batch_size=256, flip=True)))
    flipped = x[:, 0, 0, -1] > x[:, 0, 0, 0]  # the marked corner moved to the right
    unflipped = x[:, 0, 0, 0] > x[:, 0, 0, -1]
    assert torch.all(flipped ^ unflipped | (pixel_value(x) == 255))
    assert 64 < flipped.sum().item() < 192  # about half


def test_bad_inputs_are_rejected():
    images, labels = labelled_images(10)
    with pytest.raises(TypeError, match="uint8"):
        DeviceBatches(images.float(), labels, batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        DeviceBatches(images, labels, batch_size=0)
    with pytest.raises(ValueError, match="labels"):
        DeviceBatches(images, labels[:5], batch_size=4)
    with pytest.raises(ValueError, match="resolution"):
        prepare_images(images, 0)


@needs_debian
def test_normalisation_constants_come_from_the_training_images():
    from nin_book.data import load_fashion_mnist

    pixels = load_fashion_mnist(DEBIAN, download=False).train_images.float().div(255)
    assert pixels.mean().item() == pytest.approx(FASHION_MNIST_MEAN, abs=5e-5)
    assert pixels.std().item() == pytest.approx(FASHION_MNIST_STD, abs=5e-5)
