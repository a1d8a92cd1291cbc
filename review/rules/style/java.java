public class Example {
    void run(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            // ruleid: java.style.print-stack-trace
            e.printStackTrace();
        }
        // ruleid: java.style.system-out
        System.out.println("done");
    }
}
