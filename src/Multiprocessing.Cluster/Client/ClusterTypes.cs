using System.Collections.Concurrent;
using System.Reflection;
using Multiprocessing.Serialization;

namespace Multiprocessing.Cluster.Client;

/// <summary>
/// What a cluster task may not carry: shared objects. Their descriptors name memory, futex words
/// and sockets of this machine, which mean nothing on a node. Checked once per type, at the call,
/// before anything leaves the machine.
/// </summary>
internal static class ClusterTypes
{
    private static readonly ConcurrentDictionary<Type, string?> s_sharedPaths = new();

    /// <exception cref="ArgumentException">The argument or result type holds a shared object; the message names where and says what to do.</exception>
    public static void RefuseShared(Type argument, Type result, string parameterName)
    {
        foreach ((Type type, string role) in new[] { (argument, "argument"), (result, "result") })
        {
            if (s_sharedPaths.GetOrAdd(type, static t => Find(t, TypeNames.Display(t), [], 0)) is { } path)
            {
                throw new ArgumentException(
                    $"The task's {role} holds a shared object ({path}). Shared objects (SharedArray, SharedValue, SharedMemory, locks, semaphores, events, conditions, barriers, channels, pipes) " +
                    "live in this machine's memory and cannot cross to another machine: a ClusterPool task cannot take or return one. " +
                    "Pass the data itself (it travels with the chunk), or run the work on a ProcessPool on this machine.",
                    parameterName);
            }
        }
    }

    private static string? Find(Type type, string path, HashSet<Type> seen, int depth)
    {
        if (typeof(SharedObject).IsAssignableFrom(type))
        {
            return $"{path}: {TypeNames.Display(type)}";
        }
        if (depth > 8 || type.IsPrimitive || type.IsEnum || type == typeof(string) || !seen.Add(type))
        {
            return null;
        }
        if (type.IsArray)
        {
            return Find(type.GetElementType()!, path + "[]", seen, depth + 1);
        }
        if (type.IsGenericType)
        {
            foreach (Type argument in type.GetGenericArguments())
            {
                if (Find(argument, $"{path}<{TypeNames.Display(argument)}>", seen, depth + 1) is { } found)
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
            if (property.GetIndexParameters().Length == 0 && Find(property.PropertyType, $"{path}.{property.Name}", seen, depth + 1) is { } found)
            {
                return found;
            }
        }
        foreach (FieldInfo field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            if (Find(field.FieldType, $"{path}.{field.Name}", seen, depth + 1) is { } found)
            {
                return found;
            }
        }
        return null;
    }
}
