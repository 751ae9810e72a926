using Multiprocessing.Payload;
using Multiprocessing.Scheduling;
using Multiprocessing.Serialization;
using Multiprocessing.Wire;

namespace Multiprocessing;

// The entry point a cluster node runs a caller's chunk through: the method and the items arrive
// already encoded by the caller's process, and the results leave as the worker wrote them. The
// node never loads the caller's types; only its worker processes do, as on one machine.
//
// The caller's serializer travels the same way, by name: the description ends with the names of the
// caller's IWorkerSerializer and JSON context (null for the built-in codecs), and a worker that reads
// a Register frame with them decodes that method's arguments and results with those, not with its
// pool's. So one node pool, created once with fixed options, serves clients with different
// serializers without a pool per serializer: a different serializer makes a different description,
// hence a different registration; each worker creates a named serializer once (SerializerTypes
// caches it). A worker that cannot create it fails every chunk of that method with
// WorkerStartException, as a local pool whose workers cannot create their serializer does.
public sealed partial class ProcessPool
{
    /// <summary>
    /// What a caller sends a node for <paramref name="method"/>: what follows the id in its Register
    /// frame, then the names of the caller's codecs, with which the node's workers read its chunks.
    /// </summary>
    internal static byte[] DescribeEncoded(RegisteredMethod method, CodecProvider codecs)
    {
        ReadOnlySpan<byte> described = method.RegisterFrame.AsSpan(Protocol.HeaderSize + sizeof(int));
        var writer = new PayloadWriter(described.Length + 256);
        writer.WriteBytes(described);
        writer.WriteString(SerializerTypes.NameOf(codecs.UserSerializer));
        writer.WriteString(SerializerTypes.NameOf(codecs.JsonResolver));
        return writer.WrittenSpan.ToArray();
    }

    private readonly Dictionary<string, RegisteredMethod> _encodedMethods = [];
    private readonly Lock _encodedLock = new();

    // Encoded methods count down from -1, so their ids never meet those the front end gives the
    // pool's own methods (1 upwards): a worker knows both kinds by id.
    private int _lastEncodedId;

    /// <summary>
    /// Runs a chunk encoded by another process's pool on this pool's workers.
    /// </summary>
    /// <param name="chunk">The method's description, the complete Run frame (its sequence number and method id are overwritten here) and the item count.</param>
    /// <param name="cancellationToken">Abandons the chunk: dropped if queued, cancelled in its worker if running.</param>
    /// <returns>
    /// The results exactly as the worker wrote them (all of them, across PartialResult frames), or
    /// the exception this pool would have given a local caller for the same chunk.
    /// </returns>
    internal Task<EncodedOutcome> RunEncodedAsync(EncodedChunk chunk, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        RegisteredMethod method = RegisterEncoded(chunk.Method, chunk.MethodName);
        var owner = new EncodedOwner();
        var item = new WorkItem(method, chunk.Frame, chunk.FrameLength, chunk.Count, chunk.FirstItem, owner);
        if (cancellationToken.CanBeCanceled)
        {
            owner.Registration = cancellationToken.Register(() =>
            {
                if (owner.TrySetResult(new EncodedOutcome(null, 0, 0, new OperationCanceledException(cancellationToken))))
                {
                    _scheduler.Abandon(item);
                }
            });
        }
        _scheduler.Enqueue(item);
        return owner.Task;
    }

    /// <summary>The pool's registration of a method it knows only by its encoded description; one per distinct description.</summary>
    private RegisteredMethod RegisterEncoded(ReadOnlyMemory<byte> description, string displayName)
    {
        ObjectDisposedException.ThrowIf(_scheduler.IsClosed, this);
        string key = Convert.ToBase64String(description.Span);
        lock (_encodedLock)
        {
            if (!_encodedMethods.TryGetValue(key, out RegisteredMethod? registered))
            {
                int id = --_lastEncodedId;
                byte[] frame = Protocol.Frame(FrameType.Register, w =>
                {
                    w.Write(id);
                    w.WriteBytes(description.Span);
                });
                registered = new RegisteredMethod(id, TaskMethod.Described(displayName), frame);
                _encodedMethods[key] = registered;
            }
            return registered;
        }
    }

    private sealed class EncodedOwner : TaskCompletionSource<EncodedOutcome>, IWorkItemOwner
    {
        private PayloadWriter? _results;
        public CancellationTokenRegistration Registration;

        public EncodedOwner() : base(TaskCreationOptions.RunContinuationsAsynchronously)
        {
        }

        public void OnPartialResult(WorkItem item, ref PayloadReader results, int count)
        {
            _results ??= new PayloadWriter(Math.Max(256, results.Remaining * 2));
            _results.WriteBytes(results.ReadBytes(results.Remaining));
        }

        public void OnResult(WorkItem item, ref PayloadReader results, long elapsedTicks)
        {
            Registration.Unregister();
            ReadOnlySpan<byte> rest = results.ReadBytes(results.Remaining);
            if (_results is null)
            {
                TrySetResult(new EncodedOutcome(rest.ToArray(), rest.Length, elapsedTicks, null));
                return;
            }
            _results.WriteBytes(rest);
            TrySetResult(new EncodedOutcome(_results.Buffer, _results.Position, elapsedTicks, null));
        }

        public void OnError(WorkItem item, Exception error)
        {
            Registration.Unregister();
            TrySetResult(new EncodedOutcome(null, 0, 0, error));
        }
    }
}

/// <summary>A chunk encoded by a caller's pool: the method's description (<see cref="ProcessPool.DescribeEncoded"/>), a complete Run frame, and where its items start in the caller's input (-1 for a single task).</summary>
internal sealed record EncodedChunk(byte[] Method, string MethodName, byte[] Frame, int FrameLength, int Count, long FirstItem);

/// <summary>How an encoded chunk ended: the results as the worker wrote them (<c>Results[..ResultLength]</c>), or the exception a local caller would have got.</summary>
internal sealed record EncodedOutcome(byte[]? Results, int ResultLength, long ElapsedTicks, Exception? Error);
