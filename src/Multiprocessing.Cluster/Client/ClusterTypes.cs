using System.Collections.Concurrent;
using System.Reflection;
using Multiprocessing.Serialization;

namespace Multiprocessing.Cluster.Client;

/// <summary>
/// What a cluster task may carry of shared objects: read-only <see cref="SharedArray{T}"/> views in
/// its argument, which each node receives a copy of once. Every other shared object (and any in a
/// result) is refused at the call: its descriptor names memory, futex words and sockets of this
/// machine, which mean nothing on a node.
/// </summary>
internal static class ClusterTypes
{
    private const string Why =
        "Shared objects (SharedArray, SharedValue, SharedMemory, locks, semaphores, events, conditions, barriers, channels, pipes) " +
        "live in this machine's memory and cannot cross to another machine. The one exception is a read-only SharedArray view " +
        "(array.AsReadOnly()) in a task's argument: each node receives one copy of it, once, and its workers read that copy. ";

    private static readonly ConcurrentDictionary<Type, string?> s_refused = new();
    private static readonly ConcurrentDictionary<Type, string?> s_sharedPaths = new();

    /// <exception cref="ArgumentException">The argument or result type holds a shared object no node can receive; the message names where and says what to do.</exception>
    public static void RefuseShared(Type argument, Type result, string parameterName)
    {
        if (s_refused.GetOrAdd(argument, static t => Find(t, TypeNames.Display(t), [], 0, allowArrays: true)) is { } path)
        {
            throw new ArgumentException(
                $"The task's argument holds a shared object ({path}). {Why}" +
                "Pass the data itself (it travels with the chunk), a read-only SharedArray, or run the work on a ProcessPool on this machine.",
                parameterName);
        }
        if (s_sharedPaths.GetOrAdd(result, static t => Find(t, TypeNames.Display(t), [], 0, allowArrays: false)) is { } resultPath)
        {
            throw new ArgumentException(
                $"The task's result holds a shared object ({resultPath}). {Why}" +
                "A ClusterPool task cannot return one: return the data itself, or run the work on a ProcessPool on this machine.",
                parameterName);
        }
    }

    /// <summary>Whether values of <paramref name="type"/> may hold a shared array, so must be looked at when they are sent.</summary>
    public static bool MayHoldShared(Type type) => s_sharedPaths.GetOrAdd(type, static t => Find(t, TypeNames.Display(t), [], 0, allowArrays: false)) is not null;

    /// <summary>
    /// Looks through one argument for shared arrays: read-only ones are registered to be sent to
    /// the nodes; a writable one is refused, with why and what to do.
    /// </summary>
    /// <exception cref="ArgumentException">The argument holds a writable shared array.</exception>
    public static void Visit(object? value, string path, ClientSharedData registry, string parameterName, int depth = 0)
    {
        if (value is null || depth > 8)
        {
            return;
        }
        if (value is SharedObject shared)
        {
            if (!shared.IsReadOnly)
            {
                throw new ArgumentException(
                    $"The task's argument holds a writable {TypeNames.Display(shared.GetType())} ({path}). {Why}" +
                    "A node works on its own copy, so writes there would never come back: pass array.AsReadOnly() to share the data read-only, " +
                    "return what the task computes, or run the work on a ProcessPool on this machine.",
                    parameterName);
            }
            ObjectDisposedException.ThrowIf(shared.IsDisposed, shared);
            registry.Register(shared);
            return;
        }
        Type type = value.GetType();
        if (!MayHoldShared(type))
        {
            return;
        }
        if (value is System.Collections.IEnumerable sequence and not string)
        {
            int i = 0;
            foreach (object? element in sequence)
            {
                Visit(element, $"{path}[{i++}]", registry, parameterName, depth + 1);
            }
            return;
        }
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0 && property.CanRead && MayHoldShared(property.PropertyType))
            {
                Visit(property.GetValue(value), $"{path}.{property.Name}", registry, parameterName, depth + 1);
            }
        }
        foreach (FieldInfo field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            if (MayHoldShared(field.FieldType))
            {
                Visit(field.GetValue(value), $"{path}.{field.Name}", registry, parameterName, depth + 1);
            }
        }
    }

    private static string? Find(Type type, string path, HashSet<Type> seen, int depth, bool allowArrays)
    {
        if (typeof(SharedObject).IsAssignableFrom(type))
        {
            return allowArrays && type.IsGenericType && type.GetGenericTypeDefinition() == typeof(SharedArray<>) ? null : $"{path}: {TypeNames.Display(type)}";
        }
        if (depth > 8 || type.IsPrimitive || type.IsEnum || type == typeof(string) || !seen.Add(type))
        {
            return null;
        }
        if (type.IsArray)
        {
            return Find(type.GetElementType()!, path + "[]", seen, depth + 1, allowArrays);
        }
        if (type.IsGenericType)
        {
            foreach (Type argument in type.GetGenericArguments())
            {
                if (Find(argument, $"{path}<{TypeNames.Display(argument)}>", seen, depth + 1, allowArrays) is { } found)
                {
                    return found;
                }
            }
        }
        if (type.Namespace?.StartsWith("System", StringComparison.Ordinal) == true)
        {
            return null;
        }
        foreach (PropertyInfo property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0 && Find(property.PropertyType, $"{path}.{property.Name}", seen, depth + 1, allowArrays) is { } found)
            {
                return found;
            }
        }
        foreach (FieldInfo field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            if (Find(field.FieldType, $"{path}.{field.Name}", seen, depth + 1, allowArrays) is { } found)
            {
                return found;
            }
        }
        return null;
    }
}
