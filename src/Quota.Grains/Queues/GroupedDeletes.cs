namespace Quota.Grains.Queues;

/// <summary>
/// The row deletes of one queue's acks, grouped: an ack asked while another group is being written joins the next
/// group, written as one statement in one commit when the one before it is done. A lone ack is written at once; under
/// load, as many acks share a commit as arrived during the previous one, so the queue's acks cost one database round
/// trip and commit per group instead of one per item (the lease-ack figures in docs/benchmarks.md). Each ack is still
/// answered only once its row is deleted.
/// </summary>
/// <remarks>
/// Used only from its grain's turns (one thread at a time); the continuation after each write resumes on the grain's
/// scheduler, so no lock is needed. A failed write fails every ack of its group, as the one delete it replaced would
/// have.
/// </remarks>
internal sealed class GroupedDeletes(IQueueItemStore store, string queue)
{
    private List<string> _next = [];
    private TaskCompletionSource? _nextWritten;
    private bool _writing;

    /// <summary>Deletes the row of <paramref name="id"/> with the rest of its group; completes when the group is written.</summary>
    public Task DeleteAsync(string id)
    {
        _next.Add(id);
        _nextWritten ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var written = _nextWritten.Task;
        if (!_writing)
        {
            _ = WriteAsync();
        }

        return written;
    }

    private async Task WriteAsync()
    {
        _writing = true;
        try
        {
            while (_next.Count > 0)
            {
                var (ids, written) = (_next, _nextWritten!);
                (_next, _nextWritten) = ([], null);
                try
                {
                    await store.DeleteAsync(queue, ids);
                    written.SetResult();
                }
                catch (Exception e)
                {
                    written.SetException(e);
                }
            }
        }
        finally
        {
            _writing = false;
        }
    }
}
