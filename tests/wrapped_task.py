"""A training task that delegates to another; tests subclass it to watch or change one method."""


class Wrapped:
    """Delegates to a task; subclasses override one method. ``epoch`` is the epoch being trained."""

    def __init__(self, task) -> None:
        self.task, self.epoch = task, -1

    def batches(self, epoch):
        self.epoch = epoch
        return self.task.batches(epoch)

    def n_batches(self, epoch):
        return self.task.n_batches(epoch)

    def loss(self, model, batch):
        return self.task.loss(model, batch)

    def evaluate(self, model):
        return self.task.evaluate(model)
